//! CSV files read with a mapping (the Missing Migrants preset).
#![no_main]

mod common;

use connectors::mapping::{preset, Mapping};

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let mapping = Mapping::parse(preset("missing-migrants").unwrap()).unwrap();
    common::check(&common::connector(mapping), bytes);
});
