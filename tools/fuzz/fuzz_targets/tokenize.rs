//! Fuzz target `tokenize`: see tests/common/fuzz_checks.rs.
#![no_main]
#![allow(dead_code)]

#[path = "../../../tests/common/reference.rs"]
mod reference;

#[path = "../../../tests/common/fuzz_checks.rs"]
mod fuzz_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::tokenize(data));
