//! `tributary reclassify`: applies the classification and route rules as they are now to the
//! stored items, so a rule improved today also counts for last month's news. Only items the rules
//! classified (source RULE or FEED_DEFAULT) are recomputed; what an entry's own tags or a mapping
//! said comes from the source, and a person's correction (MANUAL) stands. An item whose result
//! changed gets a new version and an UPDATED change; the others are left alone.

use std::collections::HashMap;

use connectors::classify::{self, Input};
use connectors::NormalisedItem;

use crate::access::Scope;
use crate::model::{Category, ClassificationSource, FeedId, Item};
use crate::store::{ItemFilter, ItemOrder, PageRequest, Reclassification, Store, StoreError};

/// Items read and written at a time.
const PAGE: usize = 500;

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Items looked at.
    pub items: usize,
    /// Items whose classification or route changed.
    pub changed: usize,
    /// Items left as they are because their classification came from the source or a person.
    pub kept: usize,
}

/// The classification the rules give `item` now, with its feed's default category, if the rules
/// decide it.
pub fn recompute(item: &Item, default: Option<Category>) -> Option<Reclassification> {
    if !matches!(item.classification_source, ClassificationSource::Rule | ClassificationSource::FeedDefault) {
        return None;
    }
    let classification = classify::classify(Input { title: &item.title, summary: &item.summary, tags: &[], default });
    let route = classify::route(&item.title, &item.summary);
    // The hash the next poll computes for an unchanged entry, so it is not taken for a change.
    let normalised = NormalisedItem {
        title: item.title.clone(),
        summary: item.summary.clone(),
        url: item.url.clone(),
        language: item.language.clone(),
        published_at: item.published_at,
        updated_at: item.updated_at,
        classification: classification.clone(),
        countries: item.countries.clone(),
        route: route.clone(),
        figures: item.figures.clone(),
        ..NormalisedItem::deleted(String::new())
    };
    Some(Reclassification {
        item: item.id.clone(),
        category: classification.category,
        categories: classification.categories,
        source: classification.source,
        terms: classification.terms,
        route: Some(route),
        manual: false,
        content_hash: Some(normalised.content_hash()),
    })
}

/// Reclassifies every live item, a page at a time, calling `progress` after each page.
pub async fn run(store: &dyn Store, mut progress: impl FnMut(&Report, i64)) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let mut defaults: HashMap<FeedId, Option<Category>> = HashMap::new();
    let mut after: Option<String> = None;
    // Duplicates too: they are listed when asked for, with their own categories.
    let filter = ItemFilter { include_duplicates: true, ..ItemFilter::default() };
    loop {
        let page = store
            .items_page(
                &Scope::System,
                &filter,
                ItemOrder::PublishedAsc,
                &PageRequest { first: PAGE, after: after.clone() },
            )
            .await?;
        let missing: Vec<FeedId> =
            page.edges.iter().map(|(_, i)| i.feed).filter(|f| !defaults.contains_key(f)).collect();
        if !missing.is_empty() {
            for feed in store.feeds_by_ids(&Scope::System, &missing).await? {
                defaults.insert(feed.id, feed.default_category);
            }
        }
        let mut updates = Vec::new();
        for (_, item) in &page.edges {
            report.items += 1;
            match recompute(item, defaults.get(&item.feed).copied().flatten()) {
                Some(update) => updates.push(update),
                None => report.kept += 1,
            }
        }
        report.changed += store.reclassify(&updates).await?.len();
        progress(&report, page.total_count);
        if !page.has_next_page {
            return Ok(report);
        }
        after = page.edges.last().map(|(cursor, _)| cursor.clone());
    }
}
