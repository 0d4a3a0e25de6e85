//! Another Tributary hub as a source (a HUB feed): its change log, read a page at a time through
//! its GraphQL API, becomes items with their provenance. Pure: the poller sends [`QUERY`] and
//! hands the answer to [`parse_page`].
//!
//! Loops are cut here: every hub has an id, an item carries the path of hubs it travelled
//! through, and an item whose path holds this hub's id is not imported again, whatever the
//! topology (A↔B, A→B→C→A).

use serde::Deserialize;

use crate::mapping::HeaderValue;
use crate::model::{Category, Provenance};
use crate::model::{Classification, ClassificationSource, CountryMention, CountryRole, Figure, NormalisedItem};
use crate::text::{normalise, tokens};
use crate::CountryCode;

/// Changes asked for per request (the most a connection gives).
pub const PAGE: i64 = 100;

/// The fields of an item a follower stores (a fragment both queries end with).
macro_rules! item_fields {
    () => {
        "fragment Followed on Item {
  id title summary url language publishedAt updatedAt withdrawnAt visibility
  classification { category categories source terms }
  countries { country role }
  route
  figures { measure value unit hxlTag disaggregation }
  organisation { id code }
  provenance { originHub originOrganisation originId path }
}
"
    };
}

/// What a follower asks the hub it follows: that hub's id, and a page of its change log after
/// the last cursor read, backfill and duplicates included (the follower decides for itself).
pub const QUERY: &str = concat!(
    "query Follow($after: String, $first: Int!) {
  hub { id }
  changes(first: $first, after: $after, filter: { includeBackfill: true, includeDuplicates: true }) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node { kind backfill item { ...Followed } } }
  }
}
",
    item_fields!()
);

/// What a new follower reads first: every item the other hub lets it see, oldest first, whatever
/// that hub's change log still holds (it is pruned after `changes.retention_days`).
pub const SNAPSHOT_QUERY: &str = concat!(
    "query Snapshot($after: String, $first: Int!) {
  hub { id }
  items(first: $first, after: $after, filter: { includeDuplicates: true }, orderBy: PUBLISHED_ASC) {
    pageInfo { hasNextPage endCursor }
    nodes { ...Followed }
  }
}
",
    item_fields!()
);

/// What a follower asks again of items it holds, by their ids on the hub it follows
/// (`_entities`): those that hub no longer lets it see come back null, and those that became
/// stricter come back with their new visibility.
pub const RECHECK_QUERY: &str = concat!(
    "query Recheck($representations: [_Any!]!) {
  hub { id }
  _entities(representations: $representations) { ... on Item { ...Followed } }
}
",
    item_fields!()
);

/// A HUB feed's settings, given as its mapping (TOML): the read token the other hub issued,
/// written out or, better, named by an environment variable of this hub.
///
/// ```toml
/// token = { env = "APMN_HUB_TOKEN" }
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSettings {
    pub token: Option<HeaderValue>,
}

impl HubSettings {
    /// Reads a HUB feed's settings; none is an empty table.
    pub fn parse(text: &str) -> Result<HubSettings, String> {
        toml::from_str(text).map_err(|e| format!("the HUB feed's settings (TOML): {}", e.message()))
    }
}

/// One page of the other hub's change log, read.
#[derive(Debug, Default)]
pub struct HubPage {
    /// The other hub's id.
    pub hub: String,
    /// Items to store (a withdrawn one marked `deleted`), each once, in change order.
    pub items: Vec<NormalisedItem>,
    /// For each of `items`, whether the other hub marked its change as backfill (a feed's first
    /// import there).
    pub backfill: Vec<bool>,
    /// Changes not imported because this hub is on the item's path (it came from here).
    pub looped: usize,
    /// Changes that could not be read, with why.
    pub warnings: Vec<String>,
    /// The cursor to ask after next time.
    pub end_cursor: Option<String>,
    pub has_next_page: bool,
}

/// An error the other hub answered with: its code (`CURSOR_EXPIRED`, `UNAUTHENTICATED`, …) and
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubError {
    pub code: Option<String>,
    pub message: String,
}

#[derive(Deserialize)]
struct Response<D> {
    data: Option<D>,
    #[serde(default)]
    errors: Vec<GraphqlError>,
}

#[derive(Deserialize)]
struct GraphqlError {
    message: String,
    #[serde(default)]
    extensions: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Data {
    hub: HubId,
    changes: Changes,
}

#[derive(Deserialize)]
struct SnapshotData {
    hub: HubId,
    items: SnapshotItems,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SnapshotItems {
    page_info: PageInfo,
    nodes: Vec<Item>,
}

#[derive(Deserialize)]
struct RecheckData {
    hub: HubId,
    #[serde(rename = "_entities")]
    entities: Vec<Option<Item>>,
}

#[derive(Deserialize)]
struct HubId {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Changes {
    page_info: PageInfo,
    edges: Vec<Edge>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Edge {
    node: Change,
}

#[derive(Deserialize)]
struct Change {
    kind: String,
    #[serde(default)]
    backfill: bool,
    item: Item,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    id: String,
    title: String,
    summary: String,
    url: Option<String>,
    language: Option<String>,
    published_at: Option<String>,
    updated_at: Option<String>,
    withdrawn_at: Option<String>,
    visibility: String,
    classification: ItemClassification,
    countries: Vec<ItemCountry>,
    route: Option<String>,
    figures: Vec<ItemFigure>,
    organisation: ItemOrganisation,
    provenance: Option<ItemProvenance>,
}

#[derive(Deserialize)]
struct ItemClassification {
    category: String,
    categories: Vec<String>,
    source: String,
    terms: Vec<String>,
}

#[derive(Deserialize)]
struct ItemCountry {
    country: String,
    role: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemFigure {
    measure: String,
    value: f64,
    unit: Option<String>,
    hxl_tag: Option<String>,
    disaggregation: Vec<String>,
}

#[derive(Deserialize)]
struct ItemOrganisation {
    id: String,
    code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemProvenance {
    origin_hub: String,
    origin_organisation: String,
    origin_id: String,
    path: Vec<String>,
}

/// Reads the other hub's answer to [`QUERY`]. `this_hub` is this hub's id: items that travelled
/// through it are left out. An answer with errors is a [`HubError`]. An item changed several times
/// in the page is taken as its last change says.
pub fn parse_page(body: &[u8], this_hub: &str) -> Result<HubPage, HubError> {
    let data: Data = data(body)?;
    let mut page = HubPage {
        hub: data.hub.id,
        end_cursor: data.changes.page_info.end_cursor,
        has_next_page: data.changes.page_info.has_next_page,
        ..HubPage::default()
    };
    // The last change of each item, in the order of those last changes.
    let mut last: Vec<(String, Provenance, Change)> = Vec::new();
    for edge in data.changes.edges {
        let change = edge.node;
        let provenance = provenance(&page.hub, &change.item);
        if came_from(&provenance, this_hub) {
            page.looped += 1;
            continue;
        }
        let key = source_key(&provenance);
        last.retain(|(k, _, _)| *k != key);
        last.push((key, provenance, change));
    }
    for (key, provenance, change) in last {
        let backfill = change.backfill;
        // The item is read as it is now: withdrawn since, it is withdrawn here too.
        if change.kind == "WITHDRAWN" || change.item.withdrawn_at.is_some() {
            page.items.push(NormalisedItem::deleted(key));
            page.backfill.push(backfill);
            continue;
        }
        match item(change.item, key, provenance) {
            Ok(item) => {
                page.items.push(item);
                page.backfill.push(backfill);
            }
            Err(reason) => page.warnings.push(reason),
        }
    }
    Ok(page)
}

/// Reads the other hub's answer to [`SNAPSHOT_QUERY`]: a page of its items as they are now, each
/// marked as backfill.
pub fn parse_snapshot(body: &[u8], this_hub: &str) -> Result<HubPage, HubError> {
    let data: SnapshotData = data(body)?;
    let mut page = HubPage {
        hub: data.hub.id,
        end_cursor: data.items.page_info.end_cursor,
        has_next_page: data.items.page_info.has_next_page,
        ..HubPage::default()
    };
    for i in data.items.nodes {
        let provenance = provenance(&page.hub, &i);
        if came_from(&provenance, this_hub) {
            page.looped += 1;
            continue;
        }
        match item(i, source_key(&provenance), provenance) {
            Ok(item) => {
                page.items.push(item);
                page.backfill.push(true);
            }
            Err(reason) => page.warnings.push(reason),
        }
    }
    Ok(page)
}

/// What the other hub says now of an item asked about again.
#[derive(Debug)]
pub enum Recheck {
    /// The item as it is there now.
    Now(Box<NormalisedItem>),
    /// Withdrawn there, or no longer visible to this hub's token: to be withdrawn here.
    Gone,
    /// Answered, but not readable (a newer hub's vocabulary): left as it is here.
    Unreadable(String),
}

/// Reads the other hub's answer to [`RECHECK_QUERY`] for items asked about, in order. Any error
/// in the answer fails it whole: an entity that failed to load comes back null, and must not be
/// taken for one this hub may no longer see.
pub fn parse_recheck(body: &[u8], this_hub: &str) -> Result<Vec<Recheck>, HubError> {
    let data: RecheckData = data(body)?;
    let hub = data.hub.id;
    let mut out = Vec::with_capacity(data.entities.len());
    for entity in data.entities {
        out.push(match entity {
            None => Recheck::Gone,
            Some(i) if i.withdrawn_at.is_some() => Recheck::Gone,
            Some(i) => {
                let provenance = provenance(&hub, &i);
                if came_from(&provenance, this_hub) {
                    Recheck::Unreadable(format!("item {} came from this hub", i.id))
                } else {
                    let key = source_key(&provenance);
                    match item(i, key, provenance) {
                        Ok(item) => Recheck::Now(Box::new(item)),
                        Err(reason) => Recheck::Unreadable(reason),
                    }
                }
            }
        });
    }
    Ok(out)
}

/// Whether an item came from this hub: it started here, or passed through.
fn came_from(provenance: &Provenance, this_hub: &str) -> bool {
    provenance.origin_hub == this_hub || provenance.path.iter().any(|h| h == this_hub)
}

/// The source key an item is stored under: its origin hub and its id there.
pub fn source_key(provenance: &Provenance) -> String {
    format!("hub:{}:{}", provenance.origin_hub, provenance.origin_id)
}

/// The `data` of a GraphQL response, or its first error's code and message (an answer with
/// errors is never read as data: a field that failed may be missing or null).
fn data<D: serde::de::DeserializeOwned>(body: &[u8]) -> Result<D, HubError> {
    let unexpected = |e: serde_json::Error| HubError {
        code: None,
        message: format!("the other hub's answer is not the GraphQL response expected: {e}"),
    };
    let response: Response<serde_json::Value> = serde_json::from_slice(body).map_err(unexpected)?;
    if let Some(first) = response.errors.into_iter().next() {
        let code = first.extensions.as_ref().and_then(|x| x.get("code")).and_then(|c| c.as_str()).map(str::to_string);
        return Err(HubError { code, message: first.message });
    }
    match response.data {
        Some(data) => serde_json::from_value(data).map_err(unexpected),
        None => Err(HubError { code: None, message: "the other hub answered with neither data nor errors".into() }),
    }
}

/// The item's provenance here: as the other hub gives it, with that hub added to the path; an
/// item the other hub imported itself starts its path there.
fn provenance(from: &str, item: &Item) -> Provenance {
    match &item.provenance {
        Some(p) => {
            let mut path = p.path.clone();
            path.push(from.to_string());
            Provenance {
                origin_hub: p.origin_hub.clone(),
                origin_organisation: p.origin_organisation.clone(),
                origin_id: p.origin_id.clone(),
                path,
                visibility: item.visibility.clone(),
                via: item.id.clone(),
            }
        }
        None => Provenance {
            origin_hub: from.to_string(),
            origin_organisation: item.organisation.code.clone().unwrap_or_else(|| item.organisation.id.clone()),
            origin_id: item.id.clone(),
            path: vec![from.to_string()],
            visibility: item.visibility.clone(),
            via: item.id.clone(),
        },
    }
}

fn item(i: Item, source_key: String, provenance: Provenance) -> Result<NormalisedItem, String> {
    let bad = |what: &str, e: String| format!("item {} ({}): {what}: {e}", i.id, i.title);
    let date = |d: &Option<String>| d.as_deref().and_then(crate::dates::parse_lenient);
    let categories: Vec<Category> = i
        .classification
        .categories
        .iter()
        .map(|c| c.parse())
        .collect::<Result<_, _>>()
        .map_err(|e| bad("category", e))?;
    let category: Category = i.classification.category.parse().map_err(|e| bad("category", e))?;
    let source: ClassificationSource = i.classification.source.parse().map_err(|e| bad("classification", e))?;
    let countries = i
        .countries
        .iter()
        .map(|c| Ok(CountryMention { code: CountryCode::parse(&c.country)?, role: c.role.parse::<CountryRole>()? }))
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| bad("country", e))?;
    let title_norm = normalise(&i.title);
    let summary_norm = normalise(&i.summary);
    let title_toks: Vec<&str> = tokens(&title_norm).collect();
    let summary_toks: Vec<&str> = tokens(&summary_norm).collect();
    let text_key = crate::story::text_key_of_tokens(&title_toks, &summary_toks);
    let url_key = i.url.as_deref().and_then(crate::story::url_key);
    Ok(NormalisedItem {
        source_key,
        direction: crate::lang::direction(i.language.as_deref()),
        language: i.language,
        published_at: date(&i.published_at),
        updated_at: date(&i.updated_at),
        classification: Classification { category, categories, source, terms: i.classification.terms },
        countries,
        route: i.route,
        figures: i
            .figures
            .into_iter()
            .map(|f| Figure {
                measure: f.measure,
                value: f.value,
                unit: f.unit,
                hxl_tag: f.hxl_tag,
                disaggregation: f.disaggregation,
            })
            .collect(),
        search_text: format!("{title_norm} {summary_norm}"),
        url_key,
        text_key,
        provenance: Some(provenance),
        deleted: false,
        title: i.title,
        summary: i.summary,
        url: i.url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(items: &str) -> Vec<u8> {
        format!(
            r#"{{"data":{{"hub":{{"id":"hub-b"}},"changes":{{"pageInfo":{{"hasNextPage":false,"endCursor":"c2"}},"edges":[{items}]}}}}}}"#
        )
        .into_bytes()
    }

    fn edge(kind: &str, id: &str, provenance: &str) -> String {
        format!(
            r#"{{"cursor":"c1","node":{{"kind":"{kind}","item":{{"id":"{id}","title":"Crossings shift to the Atlantic route","summary":"Arrivals in the Canaries rose.","url":"https://example.org/a","language":"en","publishedAt":"2026-11-02T10:00:00+00:00","updatedAt":null,"visibility":"PUBLIC","classification":{{"category":"ROUTE_CHANGE","categories":["ROUTE_CHANGE"],"source":"RULE","terms":["crossings"]}},"countries":[{{"country":"ES","role":"DESTINATION"}}],"route":"Atlantic","figures":[],"organisation":{{"id":"org-es","code":"ES"}},"provenance":{provenance}}}}}}}"#
        )
    }

    #[test]
    fn an_item_of_the_other_hub_starts_its_path_there() {
        let page = parse_page(&answer(&edge("CREATED", "item-1", "null")), "hub-c").unwrap();
        assert_eq!(page.hub, "hub-b");
        assert_eq!(page.end_cursor.as_deref(), Some("c2"));
        let item = &page.items[0];
        assert_eq!(item.source_key, "hub:hub-b:item-1");
        let p = item.provenance.as_ref().unwrap();
        assert_eq!(
            (p.origin_hub.as_str(), p.origin_organisation.as_str(), p.path.clone()),
            ("hub-b", "ES", vec!["hub-b".to_string()])
        );
        assert_eq!(item.classification.category, Category::RouteChange);
        assert!(item.text_key.is_some());
    }

    #[test]
    fn an_item_that_travelled_keeps_its_origin_and_never_comes_home() {
        let travelled = r#"{"originHub":"hub-a","originOrganisation":"IT","originId":"item-a","path":["hub-a"]}"#;
        let page = parse_page(&answer(&edge("UPDATED", "item-b", travelled)), "hub-c").unwrap();
        let p = page.items[0].provenance.as_ref().unwrap();
        assert_eq!(page.items[0].source_key, "hub:hub-a:item-a", "the same story by whatever way it came");
        assert_eq!(p.path, vec!["hub-a".to_string(), "hub-b".to_string()]);

        let home = parse_page(&answer(&edge("UPDATED", "item-b", travelled)), "hub-a").unwrap();
        assert!(home.items.is_empty());
        assert_eq!(home.looped, 1);
        let own = parse_page(&answer(&edge("CREATED", "item-1", "null")), "hub-b").unwrap();
        assert_eq!(own.looped, 1, "a hub following itself imports nothing");
    }

    #[test]
    fn an_item_changed_twice_in_a_page_is_taken_as_its_last_change_says() {
        let twice = format!("{},{}", edge("CREATED", "item-1", "null"), edge("WITHDRAWN", "item-1", "null"));
        let page = parse_page(&answer(&twice), "hub-c").unwrap();
        assert_eq!(page.items.len(), 1);
        assert!(page.items[0].deleted, "created, then withdrawn: withdrawn");
        let back = format!("{},{}", edge("WITHDRAWN", "item-1", "null"), edge("UPDATED", "item-1", "null"));
        let page = parse_page(&answer(&back), "hub-c").unwrap();
        assert!(!page.items[0].deleted, "withdrawn, then published again: live");
    }

    #[test]
    fn a_recheck_answer_with_any_error_withdraws_nothing() {
        let partial = br#"{"data":{"hub":{"id":"hub-b"},"_entities":[null]},"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}"#;
        assert_eq!(parse_recheck(partial, "hub-c").unwrap_err().code.as_deref(), Some("INTERNAL"));
        let gone = br#"{"data":{"hub":{"id":"hub-b"},"_entities":[null]}}"#;
        assert!(matches!(parse_recheck(gone, "hub-c").unwrap()[..], [Recheck::Gone]));
    }

    #[test]
    fn a_withdrawal_withdraws_and_an_error_answer_says_its_code() {
        let page = parse_page(&answer(&edge("WITHDRAWN", "item-1", "null")), "hub-c").unwrap();
        assert!(page.items[0].deleted);
        assert_eq!(page.items[0].source_key, "hub:hub-b:item-1");
        let expired =
            br#"{"data":null,"errors":[{"message":"cursor expired","extensions":{"code":"CURSOR_EXPIRED"}}]}"#;
        let e = parse_page(expired, "hub-c").unwrap_err();
        assert_eq!(e.code.as_deref(), Some("CURSOR_EXPIRED"));
        assert!(parse_page(b"<html>", "hub-c").unwrap_err().message.contains("not the GraphQL response"));
    }
}
