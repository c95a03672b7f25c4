//! Fuzz target: see `tollgate::fuzzing::usage` for the input layout and what it asserts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tollgate::fuzzing::usage(data));
