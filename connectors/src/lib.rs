//! Tributary's connectors: pure normalisers that turn the bytes a source published into items of
//! the migration-information model. No network, no database, no clock except what is passed in:
//! bytes and a [`FeedContext`] in, a [`Parsed`] out — so every connector is tested on fixtures.
//!
//! # Layout
//! - [`mapping`]: how CSV rows and JSON records become items (TOML, checked when a feed is
//!   registered).
//! - [`model`]: the normalised item and the shared vocabularies (categories, country roles).
//! - [`text`]: HTML-to-text, whitespace, and the normaliser used for matching and search.
//! - [`lang`]: declared-or-detected language, as a BCP 47 tag with its direction.
//! - [`geo`]: country codes and country names in five languages (table in `rules/countries.tsv`).
//! - [`hub`]: another hub's change log, read through its GraphQL API, with provenance and loops cut.
//! - [`classify`]: category rules kept as data in `rules/categories.toml`.
//! - [`csv`]: CSV files read a row at a time — encoding, delimiter, HXL hashtag rows — and each
//!   row made an item by a mapping or the HXL defaults.
//! - [`dates`]: lenient timestamp parsing that never drops a date silently.
//! - [`json`]: JSON APIs — records and fields at JSON Pointers, one page at a time.
//! - [`opml`]: reading and writing OPML subscription lists.
//! - [`rss`]: RSS 0.9x/1.0/2.0, Atom and JSON Feed through feed-rs.
//! - [`split`]: cutting a large XML feed at its entries, so it is parsed a slice at a time.

pub mod classify;
pub mod csv;
pub mod dates;
mod entry;
pub mod geo;
pub mod hub;
pub mod json;
pub mod lang;
pub mod learned;
pub mod mapping;
pub mod model;
pub mod opml;
pub mod rss;
pub mod split;
pub mod story;
pub mod text;

pub use geo::CountryCode;
pub use model::{Category, ClassificationSource, CountryMention, CountryRole, Figure, NormalisedItem};

/// What a connector knows about the feed it parses: the owner's defaults. Nothing here is I/O.
#[derive(Debug, Clone, Default)]
pub struct FeedContext {
    /// The feed's own URL, used to resolve relative links.
    pub url: Option<String>,
    /// Category used when neither the entry's own categories nor the rules decide.
    pub default_category: Option<Category>,
    /// Language assumed when the feed declares none and detection is unsure.
    pub default_language: Option<String>,
    /// Countries every item of this feed concerns (for a society's national feed, its own country).
    pub default_countries: Vec<CountryCode>,
}

/// The result of parsing one fetched document.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// The feed's own title, when it has one.
    pub title: Option<String>,
    /// Normalised items, in document order.
    pub items: Vec<NormalisedItem>,
    /// Things a focal point should know about (odd dates, ambiguous country names), in plain words.
    pub warnings: Vec<String>,
    /// The feed's declared time-to-live in minutes (RSS `ttl`).
    pub ttl_minutes: Option<u32>,
    /// Entries or rows left out because they could not be read (each has a warning). A fetch with
    /// none skipped is complete, so a snapshot feed may withdraw what it no longer holds.
    pub skipped: usize,
    /// Records the document held (JSON), usable or not.
    pub records: usize,
    /// The URL of the next page of a paged JSON API, when there is one.
    pub next_page: Option<String>,
    /// The identity of every item (what a snapshot feed still holds).
    pub keys: KeySet,
    /// Warnings left out of `warnings` (counted in its last line, "… and N more").
    pub warnings_dropped: usize,
}

/// Most warnings kept per parse; the rest are counted in a last one.
pub const MAX_WARNINGS: usize = 50;

/// Keeps the first [`MAX_WARNINGS`] warnings and says, in a last one, how many more there were,
/// counting `dropped` ones left out earlier; returns that number.
pub fn cap_warnings(warnings: &mut Vec<String>, dropped: usize) -> usize {
    let more = warnings.len().saturating_sub(MAX_WARNINGS) + dropped;
    if more > 0 {
        warnings.truncate(MAX_WARNINGS);
        warnings.push(format!("… and {more} more warnings like these"));
    }
    more
}

/// What a connector can read a document from twice (a CSV file is read once to find its encoding
/// and once to parse it): a file on disk, or bytes in memory through [`std::io::Cursor`].
pub trait Source: std::io::Read + std::io::Seek + Send {}

impl<T: std::io::Read + std::io::Seek + Send> Source for T {}

/// The identities of the items a parse produced, as 128-bit fingerprints: a million rows take
/// 16 MB, not the 100 MB their keys would (two different keys share a fingerprint with odds of
/// about one in 10^26 at that size). Fingerprints are kept in a sorted vector, with the latest
/// ones in a small hash set merged into it now and then: a hash set of a million would take twice
/// the memory, and three times while it grows.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    sorted: Vec<u128>,
    recent: std::collections::HashSet<u128>,
}

/// Fingerprints a [`KeySet`] holds in its hash set before merging them into its sorted vector.
const KEYSET_RECENT: usize = 1 << 15;

impl KeySet {
    /// The fingerprint of a source key: two SipHash-1-3 hashes with fixed keys, so it is the same
    /// in every parse and every process.
    pub fn fingerprint(key: &str) -> u128 {
        use std::hash::{Hash, Hasher};
        let half = |salt: u8| {
            let mut h = std::hash::DefaultHasher::new();
            salt.hash(&mut h);
            key.hash(&mut h);
            h.finish()
        };
        (u128::from(half(1)) << 64) | u128::from(half(2))
    }

    /// Adds a key; false when it was there already.
    pub fn insert(&mut self, key: &str) -> bool {
        self.insert_fingerprint(Self::fingerprint(key))
    }

    fn insert_fingerprint(&mut self, fingerprint: u128) -> bool {
        if self.sorted.binary_search(&fingerprint).is_ok() || !self.recent.insert(fingerprint) {
            return false;
        }
        if self.recent.len() >= KEYSET_RECENT {
            self.merge();
        }
        true
    }

    /// Moves the recent fingerprints into the sorted vector, merging from the back in place.
    fn merge(&mut self) {
        let mut recent: Vec<u128> = self.recent.drain().collect();
        recent.sort_unstable();
        let old = self.sorted.len();
        self.sorted.resize(old + recent.len(), 0);
        let (mut i, mut j) = (old, recent.len());
        for k in (0..self.sorted.len()).rev() {
            if j == 0 {
                break;
            }
            if i > 0 && self.sorted[i - 1] > recent[j - 1] {
                self.sorted[k] = self.sorted[i - 1];
                i -= 1;
            } else {
                self.sorted[k] = recent[j - 1];
                j -= 1;
            }
        }
    }

    /// Whether the set holds `key`.
    pub fn contains(&self, key: &str) -> bool {
        let fingerprint = Self::fingerprint(key);
        self.recent.contains(&fingerprint) || self.sorted.binary_search(&fingerprint).is_ok()
    }

    /// Adds every key of `other`.
    pub fn extend(&mut self, other: KeySet) {
        if self.is_empty() {
            *self = other;
            return;
        }
        for fingerprint in other.sorted.into_iter().chain(other.recent) {
            self.insert_fingerprint(fingerprint);
        }
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_set_holds_each_key_once_across_its_merges() {
        let mut set = KeySet::default();
        let n = 3 * KEYSET_RECENT + 123;
        for i in 0..n {
            assert!(set.insert(&format!("id:{i}")));
        }
        assert_eq!(set.len(), n);
        assert!(set.sorted.windows(2).all(|w| w[0] < w[1]), "merged in order");
        for i in (0..n).step_by(997) {
            assert!(!set.insert(&format!("id:{i}")), "id:{i} is a repeat");
            assert!(set.contains(&format!("id:{i}")));
        }
        assert!(!set.contains("id:-1"));
        let mut other = KeySet::default();
        other.insert("id:0");
        other.insert("elsewhere");
        set.extend(other);
        assert_eq!(set.len(), n + 1);
        assert!(set.contains("elsewhere"));
    }
}

/// The first chunk of a parse: a tenth of `chunk_size`, so storing starts early.
fn first_chunk_size(chunk_size: usize) -> usize {
    (chunk_size.max(1) / 10).max(1)
}

/// The chunk after one of `size`: twice as large, up to `chunk_size`.
fn next_chunk_size(size: usize, chunk_size: usize) -> usize {
    size.saturating_mul(2).min(chunk_size.max(1))
}

/// Hands a parse's items to its sink in chunks that start at [`first_chunk_size`] and double up
/// to `chunk_size`, dropping any item whose identity an earlier one had, so a chunk never
/// contradicts an earlier one.
struct Chunks<'a> {
    chunk_size: usize,
    /// Size of the chunk being filled.
    limit: usize,
    chunk: Vec<NormalisedItem>,
    keys: KeySet,
    /// Items handed over.
    kept: usize,
    /// Items dropped because an earlier one had their identity.
    repeated: usize,
    sink: &'a mut dyn FnMut(Vec<NormalisedItem>),
}

impl<'a> Chunks<'a> {
    fn new(chunk_size: usize, sink: &'a mut dyn FnMut(Vec<NormalisedItem>)) -> Chunks<'a> {
        let limit = first_chunk_size(chunk_size);
        Chunks { chunk_size, limit, chunk: Vec::new(), keys: Default::default(), kept: 0, repeated: 0, sink }
    }

    fn push(&mut self, item: NormalisedItem) {
        if !self.keys.insert(&item.source_key) {
            self.repeated += 1;
            return;
        }
        if self.chunk.capacity() == 0 {
            self.chunk.reserve(self.limit.min(4096));
        }
        self.kept += 1;
        self.chunk.push(item);
        if self.chunk.len() == self.limit {
            self.limit = next_chunk_size(self.limit, self.chunk_size);
            self.flush();
        }
    }

    /// Hands over what is left.
    fn flush(&mut self) {
        if !self.chunk.is_empty() {
            (self.sink)(std::mem::take(&mut self.chunk));
        }
    }

    /// The identities of every item handed over.
    fn finish(&mut self) -> KeySet {
        std::mem::take(&mut self.keys)
    }
}

/// Why a document could not be parsed at all. Individual odd entries are warnings, not errors.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The bytes are not a feed this connector understands.
    #[error("not a valid feed: {0}")]
    Invalid(String),
}

/// The connectors the hub knows. Adding one is a new file in this crate and one arm here.
#[derive(Debug, Clone, PartialEq)]
pub enum Connector {
    /// RSS 0.9x/1.0/2.0, Atom and JSON Feed.
    Rss,
    /// A CSV file, with its mapping (or the HXL defaults alone).
    Csv(Option<Box<mapping::Mapping>>),
    /// One page of a JSON API, with its mapping.
    Json(Box<mapping::Mapping>),
}

impl Connector {
    /// Whether each fetch is the whole data set, so what it no longer holds is withdrawn.
    pub fn is_snapshot(&self) -> bool {
        match self {
            Connector::Csv(Some(mapping)) | Connector::Json(mapping) => mapping.snapshot,
            _ => false,
        }
    }

    /// Parses `bytes` into normalised items, all at once.
    pub fn parse(&self, bytes: &[u8], context: &FeedContext) -> Result<Parsed, ConnectorError> {
        let mut items = Vec::new();
        let mut parsed = self.parse_chunks(bytes, context, usize::MAX, &mut |chunk| items.extend(chunk))?;
        parsed.items = items;
        Ok(parsed)
    }

    /// Parses `bytes`, handing items to `sink` in chunks as they are normalised; the result holds
    /// everything but the items. Entries repeating an earlier entry's identity are dropped with a
    /// warning, so a chunk never contradicts an earlier one.
    pub fn parse_chunks(
        &self,
        bytes: &[u8],
        context: &FeedContext,
        chunk_size: usize,
        sink: &mut dyn FnMut(Vec<NormalisedItem>),
    ) -> Result<Parsed, ConnectorError> {
        match self {
            Connector::Rss => rss::parse_chunks(bytes, context, chunk_size, sink),
            Connector::Csv(mapping) => csv::parse_chunks(bytes, mapping.as_deref(), context, chunk_size, sink),
            Connector::Json(mapping) => json::parse_chunks(bytes, mapping, context, chunk_size, sink),
        }
    }

    /// [`Connector::parse_chunks`] reading from `source`: a CSV file is read a row at a time, so
    /// memory stays bounded however long it is; other documents are read whole.
    pub fn parse_source_chunks(
        &self,
        source: &mut dyn Source,
        context: &FeedContext,
        chunk_size: usize,
        sink: &mut dyn FnMut(Vec<NormalisedItem>),
    ) -> Result<Parsed, ConnectorError> {
        match self {
            Connector::Csv(mapping) => csv::parse_source(source, mapping.as_deref(), context, chunk_size, sink),
            _ => {
                let mut bytes = Vec::new();
                source
                    .rewind()
                    .and_then(|()| source.read_to_end(&mut bytes))
                    .map_err(|e| ConnectorError::Invalid(format!("could not read the document: {e}")))?;
                self.parse_chunks(&bytes, context, chunk_size, sink)
            }
        }
    }
}
