//! The model catalog: providers, models, their price histories and related models.
//!
//! The gateway reads the catalog on every call, so it is held in memory as an immutable
//! [`Snapshot`] that is rebuilt from the store after each admin change and swapped in whole.
//!
//! A caller names a model by its id or by one of its aliases: an exact alias
//! (`claude-sonnet-4-5-20250929`) or a pattern with a trailing `*` (`claude-sonnet-*`) that maps
//! a whole family of names, so that clients with their own default model names (coding agents)
//! work unchanged. [`Snapshot::resolve`] turns a name into a model.

mod domain;
pub mod import;
mod input;
pub mod markdown;
pub mod query;
pub mod seed;

pub use domain::*;
pub use input::*;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;

use chrono::{DateTime, Utc};

use crate::pricing::{version_at, PriceVersion};
use crate::store::{Store, StoreError};

/// A model with everything the API shows about it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub model: Model,
    /// Price versions, oldest first.
    pub prices: Vec<PriceVersion>,
    /// Related model ids, in their display order.
    pub related: Vec<String>,
    /// Other names callers may use for the model (patterns end with `*`), sorted.
    pub aliases: Vec<String>,
}

impl Entry {
    /// The price version in effect at `at`; `None` when the model has no known price then.
    pub fn price_at(&self, at: DateTime<Utc>) -> Option<&PriceVersion> {
        version_at(&self.prices, at)
    }
}

/// An immutable view of the whole catalog.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub providers: Vec<Provider>,
    pub entries: Vec<Entry>,
    index: HashMap<String, usize>,
    /// Exact aliases → entry.
    aliases: HashMap<String, usize>,
    /// Pattern prefixes (the alias without its `*`) → entry.
    patterns: HashMap<String, usize>,
    /// The longest pattern prefix, in bytes: no longer prefix of a name needs looking up.
    longest_prefix: usize,
    /// Each entry's JSON in the OpenAI model list, rendered once (see [`RenderMemo`]).
    pub listed_json: RenderMemo,
}

/// A rendering of each entry of one snapshot, made on first use and kept with the snapshot
/// (a catalog change builds a new snapshot, and so starts afresh). A rendering that depends on
/// the price version in effect, which changes with time alone, is kept with that version's id
/// and made again when another version is in effect.
#[derive(Debug, Default)]
pub struct RenderMemo {
    slots: Vec<Mutex<Option<Rendered>>>,
}

/// A rendering and the id of the price version it was made with (`None`: no price).
type Rendered = (Option<i64>, Bytes);

impl RenderMemo {
    fn new(entries: usize) -> Self {
        RenderMemo {
            slots: (0..entries).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// The rendering of entry `i` for price version `version`, rendered now if it is not kept.
    pub fn get_or_render(
        &self,
        i: usize,
        version: Option<i64>,
        render: impl FnOnce() -> Bytes,
    ) -> Bytes {
        let Some(slot) = self.slots.get(i) else {
            return render();
        };
        if let Some((v, bytes)) = &*slot.lock().expect("render memo poisoned") {
            if *v == version {
                return bytes.clone();
            }
        }
        // Rendered outside the lock: two requests may both render, with the same result.
        let bytes = render();
        *slot.lock().expect("render memo poisoned") = Some((version, bytes.clone()));
        bytes
    }
}

impl Snapshot {
    pub fn new(providers: Vec<Provider>, entries: Vec<Entry>) -> Self {
        let index = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.model.id.clone(), i))
            .collect();
        let mut aliases = HashMap::new();
        let mut patterns = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            for alias in &e.aliases {
                match pattern_prefix(alias) {
                    Some(prefix) => patterns.insert(prefix.to_string(), i),
                    None => aliases.insert(alias.clone(), i),
                };
            }
        }
        let longest_prefix = patterns.keys().map(String::len).max().unwrap_or(0);
        Snapshot {
            listed_json: RenderMemo::new(entries.len()),
            providers,
            entries,
            index,
            aliases,
            patterns,
            longest_prefix,
        }
    }

    /// The position of an entry of this snapshot in [`Snapshot::entries`].
    pub fn position(&self, entry: &Entry) -> Option<usize> {
        self.index
            .get(&entry.model.id)
            .copied()
            .filter(|&i| std::ptr::eq(&self.entries[i], entry))
    }

    /// The model with this id (ids only; see [`Snapshot::resolve`] for the names callers send).
    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.index.get(id).map(|&i| &self.entries[i])
    }

    /// The model a caller's name stands for: the model with that id, else the model with that
    /// exact alias, else the model of the longest pattern whose prefix starts the name. Names
    /// that could not be an alias (too long, spaces, control or non-ASCII characters) are not
    /// matched against patterns, so whatever a pattern admits can be recorded as it was sent.
    /// The model's status is not looked at: a deprecated model is found, and refused by the
    /// caller of this.
    pub fn resolve(&self, name: &str) -> Option<&Entry> {
        if let Some(e) = self.get(name) {
            return Some(e);
        }
        if let Some(&i) = self.aliases.get(name) {
            return Some(&self.entries[i]);
        }
        if self.patterns.is_empty()
            || name.len() > MAX_ALIAS_LEN
            || !name.chars().all(|c| c.is_ascii_graphic())
        {
            return None;
        }
        // Longest first: at most MAX_ALIAS_LEN look-ups, whatever the number of patterns.
        // (The name is ASCII, so every byte offset is a character boundary.)
        (1..=name.len().min(self.longest_prefix))
            .rev()
            .find_map(|n| self.patterns.get(&name[..n]))
            .map(|&i| &self.entries[i])
    }

    /// The model an alias belongs to, as stored (a pattern by its full text, `*` included).
    pub fn alias_owner(&self, alias: &str) -> Option<&Entry> {
        let i = match pattern_prefix(alias) {
            Some(prefix) => self.patterns.get(prefix),
            None => self.aliases.get(alias),
        };
        i.map(|&i| &self.entries[i])
    }

    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }
}

/// The shared, swappable catalog.
#[derive(Clone, Default)]
pub struct Catalog {
    /// The snapshot and the generation of the load that made it.
    current: Arc<RwLock<(u64, Arc<Snapshot>)>>,
    /// Loads started so far: a load installs its snapshot only if no later-started load has
    /// installed one, so two reloads finishing out of order (a replica's notification and an
    /// admin write) never leave the older catalog in place.
    loads: Arc<std::sync::atomic::AtomicU64>,
}

impl Catalog {
    /// The catalog as it is now; cheap (one `Arc` clone).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .expect("catalog lock poisoned")
            .1
            .clone()
    }

    /// Rebuilds the snapshot from the store; called at start and after every admin write.
    pub async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering;
        let generation = self.loads.fetch_add(1, Ordering::SeqCst) + 1;
        let snapshot = Arc::new(store.load_catalog().await?);
        let mut current = self.current.write().expect("catalog lock poisoned");
        if generation > current.0 {
            *current = (generation, snapshot);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, aliases: &[&str]) -> Entry {
        let mut parts = NewModel {
            id: id.into(),
            name: id.into(),
            creator: None,
            provider: "p".into(),
            upstream_model: None,
            description: String::new(),
            context_length: None,
            max_output_tokens: None,
            input_modalities: None,
            capabilities: None,
            default_params: None,
            open_weights: false,
            added_on: None,
            price: None,
            prices: vec![],
            related: vec![],
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            mode: None,
            deprecated_from: None,
        }
        .into_parts()
        .unwrap();
        Entry {
            model: parts.model,
            prices: vec![],
            related: vec![],
            aliases: std::mem::take(&mut parts.aliases),
        }
    }

    fn resolved<'a>(s: &'a Snapshot, name: &str) -> Option<&'a str> {
        s.resolve(name).map(|e| e.model.id.as_str())
    }

    #[test]
    fn ids_then_exact_aliases_then_the_longest_pattern() {
        let s = Snapshot::new(
            vec![],
            vec![
                entry("opus", &["claude-*", "claude-opus-4-6"]),
                entry("sonnet", &["claude-sonnet-*", "claude-sonnet-4-5-20250929"]),
                entry("sonnet-45", &["claude-sonnet-4-5*"]),
                entry("claude-sonnet-4-5-exact", &[]),
            ],
        );
        assert_eq!(resolved(&s, "opus"), Some("opus"), "an id is itself");
        assert_eq!(resolved(&s, "claude-opus-4-6"), Some("opus"));
        assert_eq!(
            resolved(&s, "claude-sonnet-4-5-20250929"),
            Some("sonnet"),
            "an exact alias beats a longer pattern"
        );
        assert_eq!(
            resolved(&s, "claude-sonnet-4-5-exact"),
            Some("claude-sonnet-4-5-exact"),
            "an id beats every pattern"
        );
        assert_eq!(
            resolved(&s, "claude-sonnet-4-5-20991231"),
            Some("sonnet-45")
        );
        assert_eq!(resolved(&s, "claude-sonnet-4-5"), Some("sonnet-45"));
        assert_eq!(resolved(&s, "claude-sonnet-5"), Some("sonnet"));
        assert_eq!(resolved(&s, "claude-haiku-4-5"), Some("opus"));
        assert_eq!(
            resolved(&s, "claude-"),
            Some("opus"),
            "the rest may be empty"
        );
        assert_eq!(resolved(&s, "claude"), None);
        assert_eq!(resolved(&s, "gpt-4o"), None);
        assert_eq!(
            resolved(&s, "Claude-opus-4-6"),
            None,
            "names are case-sensitive"
        );
        assert_eq!(resolved(&s, "claude-sonnet-*"), Some("sonnet"));
    }

    #[test]
    fn patterns_admit_only_names_that_could_be_aliases() {
        let s = Snapshot::new(vec![], vec![entry("opus", &["claude-*"])]);
        assert_eq!(resolved(&s, "claude-x y"), None, "a space");
        assert_eq!(resolved(&s, "claude-\n"), None, "a control character");
        assert_eq!(resolved(&s, "claude-é"), None, "not ASCII");
        let long = format!("claude-{}", "x".repeat(MAX_ALIAS_LEN));
        assert_eq!(resolved(&s, &long), None, "too long to record");
        let longest = format!("claude-{}", "x".repeat(MAX_ALIAS_LEN - 7));
        assert_eq!(resolved(&s, &longest), Some("opus"));
    }

    #[test]
    fn alias_owner_finds_exact_aliases_and_patterns_by_their_text() {
        let s = Snapshot::new(vec![], vec![entry("opus", &["claude-*", "opus-latest"])]);
        assert_eq!(s.alias_owner("claude-*").unwrap().model.id, "opus");
        assert_eq!(s.alias_owner("opus-latest").unwrap().model.id, "opus");
        assert!(
            s.alias_owner("claude-opus").is_none(),
            "a match is not an alias"
        );
        assert!(s.alias_owner("opus").is_none(), "an id is not an alias");
    }

    #[test]
    fn a_render_is_kept_per_price_version() {
        let s = Snapshot::new(vec![], vec![entry("a", &[]), entry("b", &[])]);
        assert_eq!(s.position(&s.entries[1]), Some(1));
        let other = entry("b", &[]);
        assert_eq!(s.position(&other), None, "an entry of another snapshot");
        let renders = std::cell::Cell::new(0);
        let render = |text: &'static str| {
            renders.set(renders.get() + 1);
            Bytes::from_static(text.as_bytes())
        };
        assert_eq!(
            s.listed_json.get_or_render(0, Some(1), || render("v1")),
            "v1"
        );
        assert_eq!(
            s.listed_json.get_or_render(0, Some(1), || render("x")),
            "v1"
        );
        assert_eq!(renders.get(), 1, "kept");
        assert_eq!(
            s.listed_json.get_or_render(0, Some(2), || render("v2")),
            "v2"
        );
        assert_eq!(
            s.listed_json.get_or_render(0, None, || render("none")),
            "none"
        );
        assert_eq!(s.listed_json.get_or_render(1, None, || render("b")), "b");
        assert_eq!(
            s.listed_json.get_or_render(9, None, || render("out")),
            "out"
        );
        assert_eq!(renders.get(), 5);
    }

    #[test]
    fn alias_syntax() {
        for ok in [
            "claude-sonnet-4-5-20250929",
            "claude-sonnet-*",
            "anthropic/claude-opus-4.6",
            "sonnet",
            "a*",
            "model@2025:x_y",
        ] {
            assert_eq!(alias_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "*",
            "claude-*-x",
            "claude-**",
            "two words",
            "tab\there",
            "new\nline",
            "ünïcode",
            &"x".repeat(MAX_ALIAS_LEN + 1),
        ] {
            assert!(alias_problem(bad).is_some(), "{bad:?}");
        }
        let e = check_aliases("aliases", vec!["b".into(), "a".into(), "b".into()]).unwrap_err();
        assert_eq!(e.field, "aliases[2]");
        assert_eq!(
            check_aliases("aliases", vec!["b".into(), "a*".into()]).unwrap(),
            vec!["a*", "b"],
            "sorted"
        );
        let many = (0..=MAX_ALIASES_PER_MODEL)
            .map(|i| format!("m{i}"))
            .collect();
        assert!(check_aliases("aliases", many).is_err());
    }
}
