//! The `Digest` type: a network's period summarised (see `crate::digest`).

use async_graphql::{Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::ids::encode_cursor;
use super::scalars::{self, CountryCode};
use super::types::{Change, Network};
use crate::digest;

/// What changed in a network over a period: counts by category and country, and the most
/// significant changes (route and regulatory changes first, new before updated, then newest).
/// Backfill — a feed's first import — is left out.
pub struct Digest(pub digest::Digest, pub Network);

/// Items of one category.
#[derive(SimpleObject)]
pub struct CategoryCount {
    /// The category.
    category: scalars::Category,
    /// Items of it that changed in the period.
    count: i64,
}

/// Items concerning one country.
#[derive(SimpleObject)]
pub struct CountryCount {
    /// The country.
    country: CountryCode,
    /// Its English name.
    name: Option<&'static str>,
    /// Items concerning it that changed in the period.
    count: i64,
}

#[Object]
impl Digest {
    /// The network.
    async fn network(&self) -> &Network {
        &self.1
    }
    /// Start of the period.
    async fn since(&self) -> DateTime<Utc> {
        self.0.since
    }
    /// End of the period.
    async fn until(&self) -> DateTime<Utc> {
        self.0.until
    }
    /// Changes in the period.
    async fn changes(&self) -> i64 {
        self.0.changes as i64
    }
    /// Items they touched.
    async fn items(&self) -> i64 {
        self.0.items as i64
    }
    /// Items per category (an item counts for each of its categories), largest first.
    async fn by_category(&self) -> Vec<CategoryCount> {
        self.0.by_category.iter().map(|(c, n)| CategoryCount { category: (*c).into(), count: *n as i64 }).collect()
    }
    /// Items per country they concern, largest first.
    async fn by_country(&self) -> Vec<CountryCount> {
        self.0
            .by_country
            .iter()
            .map(|(c, n)| CountryCount { country: CountryCode(*c), name: c.english_name(), count: *n as i64 })
            .collect()
    }
    /// The most significant changes, at most ten, one per item.
    async fn highlights(&self) -> Vec<Change> {
        self.0
            .highlights
            .iter()
            .map(|(change, item)| {
                let cursor = encode_cursor("changes", &change.sequence.to_string());
                Change::with_item(change.clone(), cursor, std::sync::Arc::clone(item))
            })
            .collect()
    }
    /// Whether every change of the period was counted (a period of more than 20,000 changes is
    /// summarised from its first 20,000).
    async fn complete(&self) -> bool {
        self.0.complete
    }
}
