//! Metering: every call's usage record, written durably by one batching writer.
//!
//! Handlers send records to a single writer task over a channel; it commits whatever has
//! queued up in one transaction (group commit on SQLite WAL) and acknowledges each record
//! only after its commit. The gateway releases the end of a response — the non-streaming body,
//! the final `[DONE]` or `message_stop` — only after that acknowledgement, so a response that
//! completed always has its record on disk, even if the process is killed right after.

mod record;
mod reserver;
mod writer;

pub use record::*;
pub use writer::Meter;
