//! Rows as both backends store them (the same columns and types), and their conversion into
//! domain types.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    Category, Change, ChangeFilter, ClassificationSource, CountryCode, CountryMention, CountryRole, Feed, FeedId,
    FeedUrl, Figure, Item, ItemId, Membership, Network, OrgId, Organisation, Token, TokenId, Webhook, WebhookId,
};
use crate::store::{StoreError, StoreResult};

pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn parse<T: std::str::FromStr<Err = String>>(text: &str) -> StoreResult<T> {
    text.parse().map_err(StoreError::Corrupt)
}

fn json<T: for<'de> Deserialize<'de>>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[derive(sqlx::FromRow)]
pub struct OrganisationRow {
    id: String,
    kind: String,
    name_en: String,
    name_local: Option<String>,
    local_language: Option<String>,
    region: Option<String>,
    source: Option<String>,
}

impl TryFrom<OrganisationRow> for Organisation {
    type Error = StoreError;
    fn try_from(r: OrganisationRow) -> StoreResult<Self> {
        Ok(Organisation {
            id: OrgId(r.id),
            kind: parse(&r.kind)?,
            name_en: r.name_en,
            name_local: r.name_local,
            local_language: r.local_language,
            region: r.region.as_deref().map(parse).transpose()?,
            source: r.source,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct NetworkRow {
    slug: String,
    short_name: String,
    name_en: String,
    region: Option<String>,
    founded: Option<String>,
    description: Option<String>,
    source: Option<String>,
}

impl TryFrom<NetworkRow> for Network {
    type Error = StoreError;
    fn try_from(r: NetworkRow) -> StoreResult<Self> {
        Ok(Network {
            slug: r.slug,
            short_name: r.short_name,
            name_en: r.name_en,
            region: r.region.as_deref().map(parse).transpose()?,
            founded: r.founded,
            description: r.description,
            source: r.source,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct MembershipRow {
    network: String,
    organisation: String,
    role: String,
    source: Option<String>,
}

impl TryFrom<MembershipRow> for Membership {
    type Error = StoreError;
    fn try_from(r: MembershipRow) -> StoreResult<Self> {
        Ok(Membership {
            network: r.network,
            organisation: OrgId(r.organisation),
            role: parse(&r.role)?,
            source: r.source,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct FeedRow {
    id: i64,
    organisation: String,
    url: String,
    kind: String,
    mapping: Option<String>,
    title: Option<String>,
    default_category: Option<String>,
    default_language: Option<String>,
    default_countries: String,
    visibility: String,
    poll_interval_secs: i64,
    state: String,
    last_error: Option<String>,
    error_count: i64,
    next_check_at: i64,
    last_success_at: Option<i64>,
    etag: Option<String>,
    last_modified: Option<String>,
    body_hash: Option<String>,
    warnings: String,
    created_at: i64,
    resume_hash: Option<String>,
    resume_items: i64,
    deleted_at: Option<i64>,
}

impl FeedRow {
    /// The feed's id.
    pub fn id(&self) -> i64 {
        self.id
    }
}

/// Default countries are stored as space-separated alpha-2 codes.
pub fn countries_to_text(codes: &[CountryCode]) -> String {
    codes.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" ")
}

impl TryFrom<FeedRow> for Feed {
    type Error = StoreError;
    fn try_from(r: FeedRow) -> StoreResult<Self> {
        Ok(Feed {
            id: FeedId(r.id),
            organisation: OrgId(r.organisation),
            url: FeedUrl::parse(&r.url).map_err(StoreError::Corrupt)?,
            kind: parse(&r.kind)?,
            mapping: r.mapping,
            title: r.title,
            default_category: r.default_category.as_deref().map(parse).transpose()?,
            default_language: r.default_language,
            default_countries: r
                .default_countries
                .split_whitespace()
                .map(|c| CountryCode::parse(c).map_err(StoreError::Corrupt))
                .collect::<StoreResult<_>>()?,
            visibility: parse(&r.visibility)?,
            poll_interval_secs: r.poll_interval_secs,
            state: parse(&r.state)?,
            last_error: r.last_error,
            error_count: r.error_count,
            next_check_at: from_millis(r.next_check_at),
            last_success_at: r.last_success_at.map(from_millis),
            etag: r.etag,
            last_modified: r.last_modified,
            body_hash: r.body_hash,
            warnings: json(&r.warnings)?,
            created_at: from_millis(r.created_at),
            resume_hash: r.resume_hash,
            resume_items: r.resume_items,
            deleted_at: r.deleted_at.map(from_millis),
        })
    }
}

/// A country mention as stored in `items.countries`.
#[derive(Serialize, Deserialize)]
pub struct StoredCountry {
    pub code: String,
    pub role: String,
}

/// A figure as stored in `items.figures`.
#[derive(Serialize, Deserialize)]
pub struct StoredFigure {
    pub measure: String,
    pub value: f64,
    pub unit: Option<String>,
    pub hxl_tag: Option<String>,
    pub disaggregation: Vec<String>,
}

pub fn countries_json(countries: &[CountryMention]) -> String {
    let stored: Vec<StoredCountry> =
        countries.iter().map(|c| StoredCountry { code: c.code.to_string(), role: c.role.to_string() }).collect();
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".into())
}

/// An item's provenance as stored (JSON), when it came from another hub.
pub fn provenance_json(item: &connectors::NormalisedItem) -> Option<String> {
    item.provenance.as_ref().map(|p| serde_json::to_string(p).unwrap_or_else(|_| "null".into()))
}

/// How visible an item was on the hub it was read from; an unknown word counts as the strictest.
pub fn source_visibility(item: &connectors::NormalisedItem) -> Option<&'static str> {
    let p = item.provenance.as_ref()?;
    Some(p.visibility.parse::<crate::model::Visibility>().unwrap_or(crate::model::Visibility::Society).as_str())
}

/// The visibility an item is stored with: its feed's, or its source's where that is stricter (an
/// item read from another hub never becomes more visible here than it was there).
pub fn item_visibility(feed: crate::model::Visibility, item: &connectors::NormalisedItem) -> &'static str {
    let source = source_visibility(item).and_then(|v| v.parse::<crate::model::Visibility>().ok());
    source.map_or(feed, |s| stricter(feed, s)).as_str()
}

fn stricter(a: crate::model::Visibility, b: crate::model::Visibility) -> crate::model::Visibility {
    use crate::model::Visibility::*;
    let rank = |v| match v {
        Public => 0,
        Network => 1,
        Society => 2,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// SQL for the visibility of a feed's items when the feed's becomes `new` (a placeholder): the
/// stricter of it and each item's source visibility.
pub fn stricter_sql(new: &str) -> String {
    format!(
        "CASE WHEN source_visibility = 'SOCIETY' OR (source_visibility = 'NETWORK' AND {new} = 'PUBLIC') \
         THEN source_visibility ELSE {new} END"
    )
}

pub fn figures_json(figures: &[Figure]) -> String {
    let stored: Vec<StoredFigure> = figures
        .iter()
        .map(|f| StoredFigure {
            measure: f.measure.clone(),
            value: f.value,
            unit: f.unit.clone(),
            hxl_tag: f.hxl_tag.clone(),
            disaggregation: f.disaggregation.clone(),
        })
        .collect();
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".into())
}

pub fn categories_text(categories: &[Category]) -> String {
    categories.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" ")
}

impl ItemRow {
    /// The row's rowid (what the change log and the search index refer to).
    pub fn rowid(&self) -> i64 {
        self.rowid
    }
}

/// Reads what [`categories_text`] wrote.
pub fn parse_categories(text: &str) -> StoreResult<Vec<Category>> {
    text.split_whitespace().map(parse).collect()
}

#[derive(sqlx::FromRow)]
pub struct ItemRow {
    rowid: i64,
    id: String,
    feed: i64,
    organisation: String,
    visibility: String,
    title: String,
    summary: String,
    url: Option<String>,
    language: Option<String>,
    direction: String,
    published_at: Option<i64>,
    updated_at: Option<i64>,
    sort_published: i64,
    sort_updated: i64,
    category: String,
    categories: String,
    classification_source: String,
    terms: String,
    countries: String,
    route: Option<String>,
    figures: String,
    version: i64,
    content_hash: String,
    first_seen_at: i64,
    withdrawn_at: Option<i64>,
    duplicate_of: Option<String>,
    provenance: Option<String>,
}

impl ItemRow {
    /// The keyset cursor of this row under an ordering.
    pub fn sort_key(&self, updated: bool) -> (i64, i64) {
        (if updated { self.sort_updated } else { self.sort_published }, self.rowid)
    }
}

impl TryFrom<ItemRow> for Item {
    type Error = StoreError;
    fn try_from(r: ItemRow) -> StoreResult<Self> {
        let countries: Vec<StoredCountry> = json(&r.countries)?;
        let figures: Vec<StoredFigure> = json(&r.figures)?;
        Ok(Item {
            id: ItemId(r.id),
            feed: FeedId(r.feed),
            organisation: OrgId(r.organisation),
            visibility: parse(&r.visibility)?,
            title: r.title,
            summary: r.summary,
            url: r.url,
            language: r.language,
            direction: r.direction,
            published_at: r.published_at.map(from_millis),
            updated_at: r.updated_at.map(from_millis),
            category: parse(&r.category)?,
            categories: r.categories.split_whitespace().map(parse).collect::<StoreResult<_>>()?,
            classification_source: parse::<ClassificationSource>(&r.classification_source)?,
            terms: json(&r.terms)?,
            countries: countries
                .into_iter()
                .map(|c| {
                    Ok(CountryMention {
                        code: CountryCode::parse(&c.code).map_err(StoreError::Corrupt)?,
                        role: parse::<CountryRole>(&c.role)?,
                    })
                })
                .collect::<StoreResult<_>>()?,
            route: r.route,
            figures: figures
                .into_iter()
                .map(|f| Figure {
                    measure: f.measure,
                    value: f.value,
                    unit: f.unit,
                    hxl_tag: f.hxl_tag,
                    disaggregation: f.disaggregation,
                })
                .collect(),
            version: r.version,
            content_hash: r.content_hash,
            first_seen_at: from_millis(r.first_seen_at),
            withdrawn_at: r.withdrawn_at.map(from_millis),
            duplicate_of: r.duplicate_of.map(ItemId),
            provenance: r.provenance.as_deref().map(json).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct ChangeRow {
    sequence: i64,
    item: String,
    kind: String,
    at: i64,
    backfill: bool,
    version: i64,
}

impl TryFrom<ChangeRow> for Change {
    type Error = StoreError;
    fn try_from(r: ChangeRow) -> StoreResult<Self> {
        Ok(Change {
            sequence: r.sequence,
            kind: parse(&r.kind)?,
            at: from_millis(r.at),
            backfill: r.backfill,
            item: ItemId(r.item),
            version: r.version,
        })
    }
}

/// Columns of `tokens` read into [`TokenRow`].
pub const TOKEN_COLUMNS: &str = "id, name, prefix, role, organisation, networks, created_at, revoked_at";

#[derive(sqlx::FromRow)]
pub struct TokenRow {
    id: i64,
    name: String,
    prefix: String,
    role: String,
    organisation: Option<String>,
    networks: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<TokenRow> for Token {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> StoreResult<Token> {
        Ok(Token {
            id: TokenId(r.id),
            name: r.name,
            role: r.role.parse().map_err(StoreError::Corrupt)?,
            organisation: r.organisation.map(OrgId),
            networks: serde_json::from_str(&r.networks).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            prefix: r.prefix,
            created_at: from_millis(r.created_at),
            revoked_at: r.revoked_at.map(from_millis),
        })
    }
}

/// Columns of `webhooks` read into [`WebhookRow`].
pub const WEBHOOK_COLUMNS: &str =
    "id, organisation, token, url, filter, secret, state, disabled_reason, delivered_through, \
    attempts, failing_since, next_attempt_at, last_attempt_at, last_status, last_error, last_success_at, created_at";

#[derive(sqlx::FromRow)]
pub struct WebhookRow {
    id: i64,
    organisation: Option<String>,
    token: i64,
    url: String,
    filter: String,
    secret: String,
    state: String,
    disabled_reason: Option<String>,
    delivered_through: i64,
    attempts: i64,
    failing_since: Option<i64>,
    next_attempt_at: i64,
    last_attempt_at: Option<i64>,
    last_status: Option<i64>,
    last_error: Option<String>,
    last_success_at: Option<i64>,
    created_at: i64,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = StoreError;
    fn try_from(r: WebhookRow) -> StoreResult<Webhook> {
        let filter: serde_json::Value = serde_json::from_str(&r.filter)
            .map_err(|e| StoreError::Corrupt(format!("webhook {} filter: {e}", r.id)))?;
        Ok(Webhook {
            id: WebhookId(r.id),
            organisation: r.organisation.map(OrgId),
            token: TokenId(r.token),
            url: r.url,
            filter: ChangeFilter::from_json(&filter).map_err(StoreError::Corrupt)?,
            secret: r.secret,
            state: r.state.parse().map_err(StoreError::Corrupt)?,
            disabled_reason: r.disabled_reason,
            delivered_through: r.delivered_through,
            attempts: r.attempts,
            failing_since: r.failing_since.map(from_millis),
            next_attempt_at: from_millis(r.next_attempt_at),
            last_attempt_at: r.last_attempt_at.map(from_millis),
            last_status: r.last_status,
            last_error: r.last_error,
            last_success_at: r.last_success_at.map(from_millis),
            created_at: from_millis(r.created_at),
        })
    }
}
