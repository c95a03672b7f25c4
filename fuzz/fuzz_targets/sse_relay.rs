//! Fuzz target: see `tollgate::fuzzing::sse_relay` for the input layout and what it asserts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tollgate::fuzzing::sse_relay(data));
