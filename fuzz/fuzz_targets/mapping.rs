//! Mapping TOML as a focal point might type it; a mapping that is accepted then reads a small
//! CSV file or JSON page.
#![no_main]

mod common;

use connectors::mapping::{Format, Mapping};

const CSV: &[u8] =
    b"id,title,date,country,people\n1,Boats arrive in Lampedusa,2026-10-03,IT,38\n2,Border closed,2026-10-09,LY,2\n";
const JSON: &[u8] = br#"{"data": [{"id": "1", "fields": {"title": "Boats arrive", "date": {"created": "2026-10-03"}, "country": [{"iso3": "ita"}]}}], "links": {}}"#;

libfuzzer_sys::fuzz_target!(|text: &str| {
    let Ok(mapping) = Mapping::parse(text) else { return };
    let sample = match mapping.format {
        Format::Csv => CSV,
        Format::Json => JSON,
    };
    common::check(&common::connector(mapping), sample);
});
