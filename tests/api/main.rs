//! Integration tests: each starts the real server on a free port with a fresh SQLite file and
//! talks to it over HTTP. One test binary, so the crate is built and linked once.

mod admin;
mod admin_cli;
mod aliases;
mod budgets;
mod cache_write_1h;
mod catalog;
mod catalog_import;
mod crash;
mod dashboard;
mod db_copy;
mod errors;
mod gateway;
mod gateway_faults;
mod gateway_support;
mod gateway_translate;
mod helpers;
mod hostile_admin;
mod hostile_server;
mod hostile_upstream;
mod keys;
mod ledger;
mod lifecycle;
mod litellm_real;
mod mock;
mod model_ids;
mod openrouter_list;
mod operations;
mod pages;
mod replicas;
mod report_errors;
mod report_exactness;
mod reports;
mod responses;
mod service_tiers;
mod web_search;
