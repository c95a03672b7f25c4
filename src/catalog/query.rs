//! Filtering, sorting and paging the model list.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{Entry, Snapshot};
use crate::error::ApiError;

/// Sort keys of the model list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    InputPrice,
    OutputPrice,
    Name,
    DateAdded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

/// Which statuses to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    #[default]
    Active,
    Deprecated,
    All,
}

/// Query parameters of `GET /v1/models`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ModelQuery {
    /// Only models served by this provider id.
    pub provider: Option<String>,
    /// Comma-separated capabilities that every listed model has (`tools,vision`).
    pub capability: Option<String>,
    /// Comma-separated input modalities that every listed model accepts (`image`).
    pub modality: Option<String>,
    /// Highest input price, USD per 1M tokens (unpriced models are left out).
    #[param(value_type = Option<String>)]
    pub max_input_price: Option<Decimal>,
    /// Highest output price, USD per 1M tokens (unpriced models are left out).
    #[param(value_type = Option<String>)]
    pub max_output_price: Option<Decimal>,
    /// Only models whose every price is zero.
    pub free: Option<bool>,
    /// Case-insensitive text search in id, name, creator, provider and description.
    pub q: Option<String>,
    /// Sort key; `date_added` (newest first) when omitted. Unpriced models sort last.
    #[param(inline)]
    pub sort: Option<SortKey>,
    /// Sort direction; ascending for prices and names, descending for dates by default.
    #[param(inline)]
    pub order: Option<SortOrder>,
    /// `active` (default), `deprecated` or `all`.
    #[param(inline)]
    pub status: Option<StatusFilter>,
    /// Anthropic shape only: page size, 1 to 1000 (default 20).
    pub limit: Option<u32>,
    /// Anthropic shape only: the page after this model id.
    pub after_id: Option<String>,
    /// Anthropic shape only: the page before this model id.
    pub before_id: Option<String>,
}

/// One page of models (the Anthropic shape pages; the OpenAI shape takes all).
pub struct Page<'a> {
    pub entries: Vec<&'a Entry>,
    pub has_more: bool,
}

fn split_list(s: &Option<String>) -> Vec<String> {
    s.as_deref()
        .unwrap_or("")
        .split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

impl ModelQuery {
    /// The entries that pass every filter, sorted.
    pub fn select<'a>(&self, snapshot: &'a Snapshot, now: DateTime<Utc>) -> Vec<&'a Entry> {
        let caps = split_list(&self.capability);
        let modalities = split_list(&self.modality);
        let needle = self
            .q
            .as_deref()
            .map(str::to_lowercase)
            .filter(|q| !q.is_empty());
        let mut out: Vec<&Entry> = snapshot
            .entries
            .iter()
            .filter(|e| self.status_matches(e.model.is_active_on(now.date_naive())))
            .filter(|e| {
                self.provider
                    .as_ref()
                    .is_none_or(|p| &e.model.provider == p)
            })
            .filter(|e| caps.iter().all(|c| e.model.has_capability(c)))
            .filter(|e| {
                modalities
                    .iter()
                    .all(|m| e.model.input_modalities.contains(m))
            })
            .filter(|e| self.price_matches(e, now))
            .filter(|e| needle.as_ref().is_none_or(|n| text_matches(e, n)))
            .collect();
        self.sort(&mut out, now);
        out
    }

    /// `active`: not deprecated, nor past its deprecation date.
    fn status_matches(&self, active: bool) -> bool {
        match self.status.unwrap_or_default() {
            StatusFilter::All => true,
            StatusFilter::Active => active,
            StatusFilter::Deprecated => !active,
        }
    }

    fn price_matches(&self, e: &Entry, now: DateTime<Utc>) -> bool {
        let wants_price = self.max_input_price.is_some()
            || self.max_output_price.is_some()
            || self.free == Some(true);
        let Some(v) = e.price_at(now) else {
            return !wants_price;
        };
        let p = &v.prices;
        self.max_input_price
            .is_none_or(|max| p.input_per_mtok <= max)
            && self
                .max_output_price
                .is_none_or(|max| p.output_per_mtok <= max)
            && self.free.is_none_or(|free| free == p.is_free())
    }

    fn sort(&self, entries: &mut [&Entry], now: DateTime<Utc>) {
        let key = self.sort.unwrap_or(SortKey::DateAdded);
        let default_desc = key == SortKey::DateAdded;
        let desc = self.order.map_or(default_desc, |o| o == SortOrder::Desc);
        let price = |e: &Entry, output: bool| {
            e.price_at(now).map(|v| {
                if output {
                    v.prices.output_per_mtok
                } else {
                    v.prices.input_per_mtok
                }
            })
        };
        if key == SortKey::Name {
            // Each name lowered once, not once per comparison.
            let mut keyed: Vec<(String, &Entry)> = entries
                .iter()
                .map(|e| (e.model.name.to_lowercase(), *e))
                .collect();
            keyed.sort_by(|(ka, a), (kb, b)| {
                directed(ka.cmp(kb), desc).then_with(|| a.model.id.cmp(&b.model.id))
            });
            for (slot, (_, e)) in entries.iter_mut().zip(keyed) {
                *slot = e;
            }
            return;
        }
        entries.sort_by(|a, b| {
            let primary = match key {
                SortKey::Name => unreachable!("sorted above"),
                SortKey::DateAdded => directed(a.model.added_on.cmp(&b.model.added_on), desc),
                SortKey::InputPrice => unknown_last(price(a, false), price(b, false), desc),
                SortKey::OutputPrice => unknown_last(price(a, true), price(b, true), desc),
            };
            primary.then_with(|| a.model.id.cmp(&b.model.id))
        });
    }

    /// Applies Anthropic-style paging (`limit`, `after_id`, `before_id`) to a sorted list.
    pub fn page<'a>(&self, all: Vec<&'a Entry>) -> Result<Page<'a>, ApiError> {
        let limit = self.limit.unwrap_or(20);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::invalid_field(
                "limit",
                "limit must be between 1 and 1000",
            ));
        }
        let limit = limit as usize;
        let position = |field: &str, id: &str| {
            all.iter().position(|e| e.model.id == id).ok_or_else(|| {
                ApiError::invalid_field(field, format!("{field} '{id}' is not in this list"))
            })
        };
        let (start, end) = match (&self.after_id, &self.before_id) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_field(
                    "before_id",
                    "give after_id or before_id, not both",
                ))
            }
            (Some(after), None) => {
                let start = position("after_id", after)? + 1;
                (start, (start + limit).min(all.len()))
            }
            (None, Some(before)) => {
                let end = position("before_id", before)?;
                (end.saturating_sub(limit), end)
            }
            (None, None) => (0, limit.min(all.len())),
        };
        let has_more = if self.before_id.is_some() {
            start > 0
        } else {
            end < all.len()
        };
        Ok(Page {
            entries: all[start..end].to_vec(),
            has_more,
        })
    }
}

fn directed(o: Ordering, desc: bool) -> Ordering {
    if desc {
        o.reverse()
    } else {
        o
    }
}

fn unknown_last(a: Option<Decimal>, b: Option<Decimal>, desc: bool) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => directed(x.cmp(&y), desc),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn text_matches(e: &Entry, needle: &str) -> bool {
    let m = &e.model;
    [&m.id, &m.name, &m.creator, &m.provider, &m.description]
        .into_iter()
        .chain(&e.aliases)
        .any(|field| field.to_lowercase().contains(needle))
}
