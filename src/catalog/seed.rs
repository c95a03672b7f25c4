//! The seed catalog: TOML files that users read, review and edit for their own catalogs.
//!
//! Every `*.toml` file of the seeds directory is read in name order; each may hold
//! `[[providers]]` and `[[models]]` tables with the same fields as the admin API. The seeds are
//! loaded once, into an empty catalog, in one transaction.

use std::path::Path;

use serde::Deserialize;

use super::{ModelParts, NewModel, NewProvider, Provider};

/// The seeds shipped with Tollgate, used when the seeds directory does not exist (for example
/// when the binary runs outside the source tree).
pub const BUILTIN: &str = include_str!("../../seeds/catalog.toml");

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    #[serde(default)]
    providers: Vec<NewProvider>,
    #[serde(default)]
    models: Vec<NewModel>,
}

/// A validated seed catalog.
#[derive(Debug, Default)]
pub struct Seed {
    pub providers: Vec<Provider>,
    pub models: Vec<ModelParts>,
}

/// Why seeds could not be read.
#[derive(Debug, thiserror::Error)]
#[error("seed {source_name}: {message}")]
pub struct SeedError {
    pub source_name: String,
    pub message: String,
}

impl Seed {
    /// Reads every `*.toml` file in `dir`, or the built-in seeds when `dir` does not exist.
    pub fn load(dir: &Path) -> Result<Seed, SeedError> {
        let mut seed = Seed::default();
        if !dir.is_dir() {
            tracing::info!(dir = %dir.display(), "seeds directory not found; using built-in seeds");
            seed.add("built-in catalog.toml", BUILTIN)?;
            return Ok(seed);
        }
        let err = |message: String| SeedError {
            source_name: dir.display().to_string(),
            message,
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| err(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
            seed.add(&path.display().to_string(), &text)?;
        }
        Ok(seed)
    }

    /// Parses and validates one seed file's text, adding its entries.
    pub fn add(&mut self, name: &str, text: &str) -> Result<(), SeedError> {
        let err = |message: String| SeedError {
            source_name: name.to_string(),
            message,
        };
        let file: SeedFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        for p in file.providers {
            let id = p.id.clone();
            let provider = p
                .into_provider()
                .map_err(|e| err(format!("provider {id}: {e}")))?;
            self.providers.push(provider);
        }
        for m in file.models {
            let id = m.id.clone();
            let parts = m
                .into_parts()
                .map_err(|e| err(format!("model {id}: {e}")))?;
            self.models.push(parts);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_seeds_parse_and_hold_the_catalog() {
        let mut seed = Seed::default();
        seed.add("builtin", BUILTIN).unwrap();
        assert_eq!(seed.providers.len(), 4);
        assert_eq!(seed.models.len(), 23);
        let pixtral = seed
            .models
            .iter()
            .find(|m| m.model.id == "mistralai-pixtral-large-2411");
        assert_eq!(pixtral.unwrap().related.len(), 18);
        for m in &seed.models {
            for r in &m.related {
                assert!(
                    seed.models.iter().any(|o| &o.model.id == r),
                    "{} -> {r}",
                    m.model.id
                );
            }
        }
    }

    #[test]
    fn builtin_aliases_are_unique_and_map_current_vendor_names() {
        let mut seed = Seed::default();
        seed.add("builtin", BUILTIN).unwrap();
        let ids: Vec<&str> = seed.models.iter().map(|m| m.model.id.as_str()).collect();
        let mut seen = std::collections::HashSet::new();
        for m in &seed.models {
            for a in &m.aliases {
                assert!(seen.insert(a.clone()), "alias {a} given twice");
                assert!(!ids.contains(&a.as_str()), "alias {a} is a model id");
            }
        }
        let entries = seed
            .models
            .iter()
            .map(|m| super::super::Entry {
                model: m.model.clone(),
                prices: vec![],
                related: vec![],
                aliases: m.aliases.clone(),
            })
            .collect();
        let snapshot = super::super::Snapshot::new(vec![], entries);
        for (name, model) in [
            ("claude-opus-4-8", "anthropic-claude-opus-4.6"),
            ("claude-opus-4-6", "anthropic-claude-opus-4.6"),
            ("claude-sonnet-5", "anthropic-claude-sonnet-4.5"),
            ("claude-sonnet-4-5-20250929", "anthropic-claude-sonnet-4.5"),
            ("claude-haiku-4-5-20251001", "anthropic-claude-haiku-4.5"),
            ("claude-3-5-sonnet-latest", "anthropic-claude-opus-4.6"),
            ("gpt-4o-mini-2024-07-18", "openai-gpt-4o-mini"),
            ("gpt-4o-2024-11-20", "openai-gpt-4o"),
            ("haiku", "anthropic-claude-haiku-4.5"),
            ("sonnet", "anthropic-claude-sonnet-4.5"),
            ("anthropic/claude-sonnet-4.5", "anthropic-claude-opus-4.6"),
            ("gpt-4o", "openai-gpt-4o"),
            ("gpt-4o-mini", "openai-gpt-4o-mini"),
            ("gpt-4.1-mini", "openai-gpt-4-turbo"),
            ("gpt-5", "openai-gpt-4-turbo"),
            ("gpt-5.1-codex", "openai-gpt-4-turbo"),
            ("o3", "openai-gpt-4-turbo"),
            ("o4-mini", "openai-gpt-4-turbo"),
            ("gpt-4-turbo-2024-04-09", "openai-gpt-4-turbo"),
            ("openai/gpt-4o", "openai-gpt-4-turbo"),
        ] {
            let found = snapshot.resolve(name).map(|e| e.model.id.as_str());
            assert_eq!(found, Some(model), "{name}");
        }
        for unknown in ["gemini-2.5-pro", "llama-3", "claude", "gpt"] {
            assert!(snapshot.resolve(unknown).is_none(), "{unknown}");
        }
    }

    #[test]
    fn bad_seed_names_file_and_model() {
        let mut seed = Seed::default();
        let text = "[[models]]\nid = \"x\"\nname = \"X\"\nprovider = \"p\"\ncapabilities = [\"teleport\"]\n";
        let e = seed.add("mine.toml", text).unwrap_err().to_string();
        assert!(
            e.contains("mine.toml") && e.contains("model x") && e.contains("teleport"),
            "{e}"
        );
        let text = "[[models]]\nid = \"x\"\nname = \"X\"\nprovider = \"p\"\naliases = [\"a*b\"]\n";
        let e = seed.add("mine.toml", text).unwrap_err().to_string();
        assert!(e.contains("model x") && e.contains("last character"), "{e}");
    }
}
