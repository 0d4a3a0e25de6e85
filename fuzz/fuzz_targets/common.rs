//! What every target checks of a parse, beyond not panicking: the bounds the hub relies on.

use connectors::mapping::{Format, Mapping};
use connectors::{Connector, ConnectorError, FeedContext, NormalisedItem};
use std::collections::HashSet;

/// The longest title and summary an item may carry (the caps in the connectors' `entry.rs`).
const MAX_TITLE_BYTES: usize = 4 * 1024;
const MAX_SUMMARY_BYTES: usize = 64 * 1024;

pub fn context() -> FeedContext {
    FeedContext { url: Some("https://redcross.example.org/feed".into()), ..FeedContext::default() }
}

/// The connector a mapping makes (not every target uses it).
#[allow(dead_code)]
pub fn connector(mapping: Mapping) -> Connector {
    match mapping.format {
        Format::Csv => Connector::Csv(Some(Box::new(mapping))),
        Format::Json => Connector::Json(Box::new(mapping)),
    }
}

/// Parses `bytes` whole and in chunks of two; both must agree, and every item must be one the
/// hub can store.
pub fn check(connector: &Connector, bytes: &[u8]) {
    let context = context();
    let whole = connector.parse(bytes, &context);
    let mut chunked = Vec::new();
    let mut chunks = 0;
    let in_chunks = connector.parse_chunks(bytes, &context, 2, &mut |chunk| {
        assert!(chunk.len() <= 2, "a chunk of {} items", chunk.len());
        chunks += 1;
        chunked.extend(chunk);
    });
    match (whole, in_chunks) {
        (Ok(whole), Ok(_)) => {
            let keys = |items: &[NormalisedItem]| items.iter().map(|i| i.source_key.clone()).collect::<Vec<_>>();
            assert_eq!(keys(&whole.items), keys(&chunked), "the same items whole and in chunks");
            let mut seen = HashSet::new();
            for item in &whole.items {
                assert!(seen.insert(item.source_key.as_str()), "an identity repeated: {}", item.source_key);
                assert!(!item.source_key.is_empty(), "an item without identity");
                assert!(item.title.len() <= MAX_TITLE_BYTES, "a title of {} bytes", item.title.len());
                assert!(item.summary.len() <= MAX_SUMMARY_BYTES, "a summary of {} bytes", item.summary.len());
            }
        }
        // In chunks the error also names the entries it was found in; either way it says what is
        // wrong once ("not a valid feed: " is the error's own prefix, never repeated in its reason).
        (Err(ConnectorError::Invalid(a)), Err(ConnectorError::Invalid(b))) => {
            for reason in [a, b] {
                assert!(!reason.starts_with("not a valid feed"), "{reason}");
            }
        }
        (whole, in_chunks) => {
            panic!("whole: {:?}, in chunks: {:?}", whole.map(|p| p.items.len()), in_chunks.map(|_| chunks))
        }
    }
}
