//! CSV files with an HXL hashtag row, read with the HXL defaults alone (no mapping).
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    common::check(&connectors::Connector::Csv(None), bytes);
});
