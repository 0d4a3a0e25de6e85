//! RSS 0.9x/1.0/2.0, Atom and JSON Feed documents.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    common::check(&connectors::Connector::Rss, bytes);
});
