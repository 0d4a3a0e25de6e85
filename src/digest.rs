//! The digest of a network's period: what changed, counted by category and country, and the most
//! significant changes — the coordinator's weekly summary, done by the hub. Served by the
//! `digest` query and `/feeds/digest.atom`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};

use crate::access::Scope;
use crate::model::{Category, Change, ChangeKind, CountryCode, Item};
use crate::store::{ChangeFilter, PageRequest, Store, StoreError};

/// The most changes a digest reads; a period with more is summarised from its first ones and
/// says so (`complete: false`).
const MAX_CHANGES: usize = 20_000;

/// Changes listed as highlights.
pub const HIGHLIGHTS: usize = 10;

/// A period's digest.
#[derive(Debug, Clone)]
pub struct Digest {
    /// The network.
    pub network: String,
    /// Start of the period (inclusive).
    pub since: DateTime<Utc>,
    /// End of the period (exclusive).
    pub until: DateTime<Utc>,
    /// Changes in the period (backfill left out: a feed's first import is not news).
    pub changes: usize,
    /// Items they touched.
    pub items: usize,
    /// Items per category (an item counts once for each of its categories), largest first.
    pub by_category: Vec<(Category, usize)>,
    /// Items per country they concern, largest first.
    pub by_country: Vec<(CountryCode, usize)>,
    /// The most significant changes, most significant first.
    pub highlights: Vec<(Change, Arc<Item>)>,
    /// Whether every change of the period was read (see [`MAX_CHANGES`]).
    pub complete: bool,
}

/// How much a category weighs when picking highlights: route and regulatory changes are what the
/// networks most need to hear about.
fn weight(category: Category) -> u32 {
    match category {
        Category::RouteChange | Category::RegulatoryChange => 5,
        Category::Return | Category::Needs => 3,
        Category::Funding | Category::Programme => 2,
        _ => 1,
    }
}

/// The entries of `map`, largest count first (ties in the map's order).
fn largest_first<K>(map: BTreeMap<K, usize>) -> Vec<(K, usize)> {
    let mut list: Vec<_> = map.into_iter().collect();
    list.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    list
}

/// The digest of `network` between `since` and `until`, of what `scope` may see.
pub async fn digest(
    store: &dyn Store,
    scope: &Scope,
    network: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Digest, StoreError> {
    let filter = ChangeFilter { networks: vec![network.to_string()], since: Some(since), ..ChangeFilter::default() };
    let mut changes: Vec<Change> = Vec::new();
    let mut after: Option<String> = None;
    let mut complete = true;
    loop {
        let page = store.changes_after(scope, &filter, &PageRequest { first: 1000, after: after.clone() }).await?;
        let done = !page.has_next_page;
        after = page.edges.last().map(|(cursor, _)| cursor.clone());
        let before_until = page.edges.iter().take_while(|(_, c)| c.at < until).count();
        let reached_until = before_until < page.edges.len();
        changes.extend(page.edges.into_iter().take(before_until).map(|(_, c)| c));
        if changes.len() >= MAX_CHANGES {
            changes.truncate(MAX_CHANGES);
            complete = false;
            break;
        }
        if done || reached_until {
            break;
        }
    }

    let mut ids: Vec<_> = changes.iter().map(|c| c.item.clone()).collect::<HashSet<_>>().into_iter().collect();
    ids.sort();
    let mut items: HashMap<_, Arc<Item>> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        for item in store.items_by_ids(scope, chunk).await? {
            items.insert(item.id.clone(), Arc::new(item));
        }
    }
    let mut by_category: BTreeMap<Category, usize> = BTreeMap::new();
    let mut by_country: BTreeMap<CountryCode, usize> = BTreeMap::new();
    for item in items.values() {
        for category in &item.categories {
            *by_category.entry(*category).or_default() += 1;
        }
        let countries: HashSet<&CountryCode> = item.countries.iter().map(|m| &m.code).collect();
        for country in countries {
            *by_country.entry(*country).or_default() += 1;
        }
    }

    // Highlights: one change per item (its latest), ranked by what it is about, new before updated,
    // then newest.
    let mut latest: HashMap<&crate::model::ItemId, &Change> = HashMap::new();
    for change in &changes {
        latest.insert(&change.item, change);
    }
    let mut ranked: Vec<(u32, &Change, &Arc<Item>)> = latest
        .values()
        .filter(|c| c.kind != ChangeKind::Withdrawn)
        .filter_map(|c| {
            let item = items.get(&c.item)?;
            let w = item.categories.iter().map(|c| weight(*c)).max().unwrap_or(1) * 2
                + u32::from(c.kind == ChangeKind::Created);
            Some((w, *c, item))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.sequence.cmp(&a.1.sequence)));
    let highlights =
        ranked.into_iter().take(HIGHLIGHTS).map(|(_, change, item)| (change.clone(), Arc::clone(item))).collect();

    Ok(Digest {
        network: network.to_string(),
        since,
        until,
        changes: changes.len(),
        items: items.len(),
        by_category: largest_first(by_category),
        by_country: largest_first(by_country),
        highlights,
        complete,
    })
}

/// Digest periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// A day, from midnight UTC.
    Day,
    /// A week, from Monday midnight UTC.
    Week,
    /// A calendar month.
    Month,
}

impl Period {
    /// Parses `day`, `week` or `month`.
    pub fn parse(text: &str) -> Option<Period> {
        match text {
            "day" => Some(Period::Day),
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The start of the period holding `at`.
    pub fn start_of(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let midnight = |d: chrono::NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default());
        let day = at.date_naive();
        match self {
            Period::Day => midnight(day),
            Period::Week => midnight(day - Duration::days(i64::from(day.weekday().num_days_from_monday()))),
            Period::Month => midnight(day.with_day(1).unwrap_or(day)),
        }
    }

    /// The start of the period before the one starting at `start`.
    pub fn previous(self, start: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Period::Day => start - Duration::days(1),
            Period::Week => start - Duration::weeks(1),
            Period::Month => self.start_of(start - Duration::days(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_at_midnight_on_monday_and_on_the_first() {
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 15, 30, 0).unwrap(); // a Thursday
        assert_eq!(Period::Day.start_of(at), Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap());
        assert_eq!(Period::Week.start_of(at), Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap());
        assert_eq!(Period::Month.start_of(at), Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap());
        let march = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        assert_eq!(Period::Month.previous(march), Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap());
        assert_eq!(
            Period::Week.previous(Period::Week.start_of(at)),
            Utc.with_ymd_and_hms(2026, 11, 16, 0, 0, 0).unwrap()
        );
    }
}
