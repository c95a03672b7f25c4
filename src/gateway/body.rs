//! A gateway request's body: parsed once for admission (as a [`Value`] with no duplicate
//! keys), and kept as the caller's bytes, so that a call the provider speaks natively goes
//! upstream as those bytes with only the fields the gateway changes spliced in.
//!
//! Why no duplicate keys: a body like `{"max_tokens": 10, "max_tokens": 100000}` means what
//! each parser decides. The gateway reserves budget and caps output from what it reads; the
//! upstream must read the same request. Refusing duplicates (RFC 8259 says names SHOULD be
//! unique; no SDK sends them) makes the bytes forwarded and the value admitted one request.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

/// A JSON value whose objects, at every depth, have unique keys.
pub struct Strict(pub Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key `{key}`: each name may appear once in an object"
                )));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// An object key as written: borrowed from the body unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// The top-level members of a JSON object, each value as its raw text: read once, looked up
/// and spliced without building a [`Value`] of the whole document.
pub struct Members<'a>(Vec<(Key<'a>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key_seed(KeySeed)? {
                    members.push((key, map.next_value()?));
                }
                match duplicate(&members) {
                    Some(key) => Err(de::Error::custom(format_args!("duplicate key `{key}`"))),
                    None => Ok(Members(members)),
                }
            }
        }
        d.deserialize_map(MembersVisitor)
    }
}

/// A key that appears twice, if any: pairwise for the usual handful of members, hashed for a
/// hostile number of them (never quadratic).
fn duplicate<'k>(members: &'k [(Key<'_>, &RawValue)]) -> Option<&'k str> {
    if members.len() <= 16 {
        return members.iter().enumerate().find_map(|(i, (k, _))| {
            members[..i]
                .iter()
                .any(|(seen, _)| seen.0 == k.0)
                .then_some(&*k.0)
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(members.len());
    members
        .iter()
        .map(|(k, _)| &*k.0)
        .find(|k| !seen.insert(*k))
}

impl<'a> Members<'a> {
    /// The members of `raw`, which must be one JSON object with unique top-level keys (the
    /// values are checked to be well-formed JSON, not parsed).
    pub fn parse(raw: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(raw)
    }

    /// A member's raw text.
    pub fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k.0 == name).map(|(_, v)| *v)
    }

    /// A member parsed strictly (no duplicate keys inside it either); `Ok(None)` when absent.
    pub fn value(&self, name: &str) -> Result<Option<Value>, serde_json::Error> {
        self.get(name)
            .map(|raw| serde_json::from_str::<Strict>(raw.get()).map(|s| s.0))
            .transpose()
    }

    /// The object with every member named in `edits` replaced in place by the value given
    /// (removed when it is `None`, appended when absent); every other member is copied byte
    /// for byte, all in the original order.
    pub fn splice(&self, edits: &[(&str, Option<&Value>)]) -> Vec<u8> {
        let size = self.0.iter().map(|(k, v)| k.0.len() + v.get().len() + 4);
        let mut out = Vec::with_capacity(size.sum::<usize>() + 64);
        out.push(b'{');
        // Opens a member: the separator, the key, the colon; its value is written next.
        let mut first = true;
        let mut open = |out: &mut Vec<u8>, key: &str| {
            if !first {
                out.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut *out, key).expect("a string serializes");
            out.push(b':');
        };
        let mut written = vec![false; edits.len()];
        for (Key(key), value) in &self.0 {
            match edits.iter().position(|(name, _)| name == key) {
                None => {
                    open(&mut out, key);
                    out.extend_from_slice(value.get().as_bytes());
                }
                Some(i) => {
                    written[i] = true;
                    if let Some(edited) = edits[i].1 {
                        open(&mut out, key);
                        serde_json::to_writer(&mut out, edited).expect("JSON values serialize");
                    }
                }
            }
        }
        for ((name, value), _) in edits.iter().zip(&written).filter(|(_, w)| !**w) {
            if let Some(value) = value {
                open(&mut out, name);
                serde_json::to_writer(&mut out, value).expect("JSON values serialize");
            }
        }
        out.push(b'}');
        out
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key<'de>, D::Error> {
        Key::deserialize(d)
    }
}

/// The caller's `raw` object spliced with `edits` ([`Members::splice`]); `None` when `raw` is
/// not an object with unique top-level keys (it always is once admitted).
pub fn splice(raw: &[u8], edits: &[(&str, Option<&Value>)]) -> Option<Vec<u8>> {
    Members::parse(raw).ok().map(|m| m.splice(edits))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn strict(text: &str) -> Result<Value, serde_json::Error> {
        serde_json::from_str::<Strict>(text).map(|s| s.0)
    }

    #[test]
    fn parses_like_serde_json_when_keys_are_unique() {
        let text =
            r#"{"a":[1,-2,3.5,"x\n",null,true,{"b":{}}],"c":18446744073709551615,"d":"\u00e9"}"#;
        assert_eq!(
            strict(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    #[test]
    fn refuses_a_duplicate_key_at_any_depth() {
        for text in [
            r#"{"max_tokens":1,"max_tokens":2}"#,
            r#"{"messages":[{"role":"user","content":"a","content":"b"}]}"#,
            r#"{"a":{"b":{"c":1,"c":1}}}"#,
            r#"{"k":1,"\u006b":2}"#,
        ] {
            let e = strict(text).unwrap_err().to_string();
            assert!(e.contains("duplicate key"), "{text}: {e}");
        }
    }

    #[test]
    fn splices_edits_and_keeps_every_other_member_as_written() {
        let raw = br#"{ "model" : "alias", "temperature": 0.30000000000000000001, "messages":[{"role":"user","content":"hi \u00e9"}], "key":"secret", "z\"q":1 }"#;
        let upstream = json!("gpt-4o-2024");
        let usage = json!({"include_usage": true});
        let out = splice(
            raw,
            &[
                ("model", Some(&upstream)),
                ("key", None),
                ("stream_options", Some(&usage)),
            ],
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            r#"{"model":"gpt-4o-2024","temperature":0.30000000000000000001,"messages":[{"role":"user","content":"hi \u00e9"}],"z\"q":1,"stream_options":{"include_usage":true}}"#
        );
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["model"], "gpt-4o-2024");
        assert!(parsed.get("key").is_none());
    }

    #[test]
    fn splice_of_a_non_object_is_none() {
        assert!(splice(b"[1,2]", &[]).is_none());
        assert!(splice(b"{", &[]).is_none());
        assert!(splice(br#"{"a":1,"a":2}"#, &[]).is_none());
    }

    #[test]
    fn members_are_looked_up_raw_and_parsed_strictly_on_demand() {
        let raw = br#"{"id":"x","usage":{"prompt_tokens":3,"prompt_tokens":4},"n":1}"#;
        let m = Members::parse(raw).unwrap();
        assert_eq!(m.get("id").unwrap().get(), r#""x""#);
        assert!(m.get("nope").is_none());
        assert_eq!(m.value("n").unwrap(), Some(json!(1)));
        assert_eq!(m.value("nope").unwrap(), None);
        assert!(m.value("usage").is_err(), "a duplicate inside a member");
    }
}
