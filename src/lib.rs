//! Tollgate: a self-hosted LLM gateway with a model catalog and exact cost accounting.
//!
//! The crate is organised by domain: [`catalog`] (providers, models, related models),
//! [`pricing`] (effective-dated prices and exact cost arithmetic), [`money`] (the storage
//! form of USD amounts), [`store`] (every SQL statement), and [`api`] (HTTP handlers grouped
//! by resource). [`startup`] wires them into a running server.

pub mod admin_cli;
pub mod api;
pub mod budgets;
pub mod catalog;
pub mod cli;
pub mod cluster;
pub mod configuration;
pub mod error;
pub mod fuzzing;
pub mod gateway;
pub mod keys;
pub mod metering;
pub mod money;
pub mod otel;
pub mod pricing;
pub mod protocol;
pub mod reports;
pub mod service_tier;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
