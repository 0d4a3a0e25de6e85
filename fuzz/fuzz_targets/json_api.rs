//! Pages of JSON APIs, read with each JSON preset (the first byte picks one).
#![no_main]

mod common;

use connectors::mapping::{preset, Mapping};

const PRESETS: [&str; 4] = ["reliefweb-reports", "ifrc-go-appeals", "unhcr-population", "iom-dtm"];

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let Some((&pick, page)) = bytes.split_first() else { return };
    let mapping = Mapping::parse(preset(PRESETS[pick as usize % PRESETS.len()]).unwrap()).unwrap();
    common::check(&common::connector(mapping), page);
});
