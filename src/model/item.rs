//! Items and the change log.

use chrono::{DateTime, Utc};

use super::{
    named_enum, Category, ClassificationSource, CountryCode, CountryMention, FeedId, Figure, ItemId, OrgId, Visibility,
};

/// One entry of a source, normalised and stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Stable id.
    pub id: ItemId,
    /// The feed it came from.
    pub feed: FeedId,
    /// The organisation that owns the feed.
    pub organisation: OrgId,
    /// Who may see it (the feed's visibility).
    pub visibility: Visibility,
    /// Plain-text title.
    pub title: String,
    /// Plain-text summary.
    pub summary: String,
    /// Link to the entry.
    pub url: Option<String>,
    /// BCP 47 language tag.
    pub language: Option<String>,
    /// `ltr` or `rtl`.
    pub direction: String,
    /// When it was published (or first seen, when the source gives no date).
    pub published_at: Option<DateTime<Utc>>,
    /// When it last changed at the source.
    pub updated_at: Option<DateTime<Utc>>,
    /// Primary category.
    pub category: Category,
    /// All applicable categories, primary first.
    pub categories: Vec<Category>,
    /// Where the classification came from.
    pub classification_source: ClassificationSource,
    /// Matched terms.
    pub terms: Vec<String>,
    /// Countries it concerns.
    pub countries: Vec<CountryMention>,
    /// Named route.
    pub route: Option<String>,
    /// Figures.
    pub figures: Vec<Figure>,
    /// Bumped each time its content changes; 1 when created.
    pub version: i64,
    /// Hash of its content.
    pub content_hash: String,
    /// When the hub first stored it.
    pub first_seen_at: DateTime<Utc>,
    /// When its source stopped publishing it (snapshot feeds); listings leave it out from then.
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// The item of another feed that told the same story first: listings and notifications leave
    /// this one out unless asked for duplicates.
    pub duplicate_of: Option<ItemId>,
    /// Where it came from, when it was read from another hub.
    pub provenance: Option<super::Provenance>,
}

named_enum! {
    /// What happened to an item.
    ChangeKind {
        /// First seen.
        Created => "CREATED",
        /// Its content changed.
        Updated => "UPDATED",
        /// Removed at the source (snapshot feeds) or by its owner.
        Withdrawn => "WITHDRAWN",
    }
}

/// A row of the append-only change log.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Strictly increasing, in commit order.
    pub sequence: i64,
    /// What happened.
    pub kind: ChangeKind,
    /// When.
    pub at: DateTime<Utc>,
    /// From a feed's first import (skipped by subscriptions unless asked).
    pub backfill: bool,
    /// The item.
    pub item: ItemId,
    /// The item's version after the change.
    pub version: i64,
}

named_enum! {
    /// What `figures` totals are grouped by.
    FigureGroup {
        /// The item's first country (the one its source states, when it states one).
        Country => "COUNTRY",
        /// The month it was published (`2026-10`), or first seen when it has no date.
        Month => "MONTH",
        /// Its named route.
        Route => "ROUTE",
        /// Its primary category.
        Category => "CATEGORY",
    }
}

/// A total of one measure over the items of one group, in one unit.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureBucket {
    /// The group's country, when grouped by country (none when the items name none).
    pub country: Option<CountryCode>,
    /// The group's month, when grouped by month.
    pub month: Option<String>,
    /// The group's route, when grouped by route.
    pub route: Option<String>,
    /// The group's category, when grouped by category.
    pub category: Option<Category>,
    /// The unit or currency; totals in different units are never added together.
    pub unit: Option<String>,
    /// The sum of the measure's values.
    pub total: f64,
    /// How many items contributed.
    pub items: i64,
}

/// Filters on the change log, for its query, subscriptions, webhooks and Atom feeds; lists match
/// any of their values, and filters combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeFilter {
    /// Network slugs.
    pub networks: Vec<String>,
    /// Owning societies.
    pub societies: Vec<CountryCode>,
    /// Countries.
    pub countries: Vec<CountryCode>,
    /// Categories.
    pub categories: Vec<Category>,
    /// Item languages (BCP 47; `fr` also matches `fr-CA`).
    pub languages: Vec<String>,
    /// Change kinds.
    pub kinds: Vec<ChangeKind>,
    /// Include changes from feeds' first imports.
    pub include_backfill: bool,
    /// Changes made at or after this time only.
    pub since: Option<DateTime<Utc>>,
    /// Also changes to items that duplicate another feed's item.
    pub include_duplicates: bool,
}

impl ChangeFilter {
    /// The filter as JSON (how webhooks store theirs); `since` is not kept.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "networks": self.networks,
            "societies": self.societies.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "countries": self.countries.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "categories": self.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "languages": self.languages,
            "kinds": self.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            "includeBackfill": self.include_backfill,
            "includeDuplicates": self.include_duplicates,
        })
    }

    /// Reads a filter written by [`ChangeFilter::to_json`].
    pub fn from_json(value: &serde_json::Value) -> Result<ChangeFilter, String> {
        let strings = |key: &str| -> Vec<String> {
            value[key]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default()
        };
        let parse_all = |key: &str| -> Result<Vec<CountryCode>, String> {
            strings(key).iter().map(|c| CountryCode::parse(c)).collect()
        };
        Ok(ChangeFilter {
            networks: strings("networks"),
            societies: parse_all("societies")?,
            countries: parse_all("countries")?,
            categories: strings("categories").iter().map(|c| c.parse()).collect::<Result<_, _>>()?,
            languages: strings("languages"),
            kinds: strings("kinds").iter().map(|k| k.parse()).collect::<Result<_, _>>()?,
            include_backfill: value["includeBackfill"].as_bool().unwrap_or(false),
            since: None,
            include_duplicates: value["includeDuplicates"].as_bool().unwrap_or(false),
        })
    }
}
