//! Storage behind a trait that speaks domain types. Each backend has its own migrations and passes
//! the same contract tests (`tests/store_contract.rs`). No SQL leaves this module.

mod copy;
mod lease;
mod postgres;
mod rows;
mod search;
mod sql;
mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connectors::KeySet;

use crate::access::Scope;
use crate::model::{
    AuditEntry, Category, Change, ClassificationSource, CountryCode, Feed, FeedId, FeedState, FeedUpdate, FigureBucket,
    FigureGroup, IfrcRegion, Item, ItemId, Membership, Network, NewAuditEntry, NewFeed, NewToken, NewWebhook, OrgId,
    OrgKind, Organisation, Token, TokenId, Viewer, Webhook, WebhookDelivery, WebhookId, WebhookUpdate,
};
use crate::seed::Seed;

pub use crate::model::ChangeFilter;
pub use copy::{copy, CopyReport, TableReport};
pub(crate) use lease::{lease_owner, lease_owner_is_dead};
pub use postgres::{PgOptions, PgStore};
pub use search::{SearchError, SearchQuery};
pub use sqlite::SqliteStore;

/// Errors at the storage boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// The write would duplicate something unique.
    #[error("{0}")]
    Conflict(String),
    /// The request cannot be served as asked (a bad cursor, say).
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Stored data could not be read back into the model.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A change-log cursor from before the pruning horizon: the changes right after it are gone.
    /// `oldest` is the earliest sequence to resume after without a gap.
    #[error(
        "the change log no longer holds the changes after this cursor; resume after sequence {oldest} or start over"
    )]
    CursorExpired { oldest: i64 },
}

/// Result of a storage call.
pub type StoreResult<T> = Result<T, StoreError>;

/// A page request: at most `first` rows after the store-level cursor `after`.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// Rows wanted.
    pub first: usize,
    /// The cursor of the last row already seen.
    pub after: Option<String>,
}

/// A page of rows with their cursors.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Rows with their cursors, in order.
    pub edges: Vec<(String, T)>,
    /// Whether more rows follow.
    pub has_next_page: bool,
    /// Rows matching in all.
    pub total_count: i64,
}

/// Filters on items, all optional and combined with AND; lists match any of their values.
#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    /// Network slugs: items of feeds owned by their members.
    pub networks: Vec<String>,
    /// Owning organisations.
    pub organisations: Vec<OrgId>,
    /// Owning societies by country code.
    pub societies: Vec<CountryCode>,
    /// Countries the item concerns.
    pub countries: Vec<CountryCode>,
    /// Categories (any of the item's categories).
    pub categories: Vec<Category>,
    /// Language tags (primary subtag matches, `fr` matches `fr-CA`).
    pub languages: Vec<String>,
    /// Feeds.
    pub feeds: Vec<FeedId>,
    /// Published at or after.
    pub published_since: Option<DateTime<Utc>>,
    /// Published before.
    pub published_before: Option<DateTime<Utc>>,
    /// Full-text search.
    pub search: Option<SearchQuery>,
    /// Also items that duplicate another feed's item (left out by default).
    pub include_duplicates: bool,
    /// Only the items that duplicate this one.
    pub duplicates_of: Option<ItemId>,
}

/// Item orderings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ItemOrder {
    /// Newest first.
    #[default]
    PublishedDesc,
    /// Oldest first.
    PublishedAsc,
    /// Most recently updated first.
    UpdatedDesc,
    /// Best search match first (newest first without a search).
    Relevance,
}

/// A stretch of the change log as it was committed, for the change fan-out (`crate::events`).
#[derive(Debug, Clone, Default)]
pub struct ChangeLogPage {
    /// The changes read, in sequence order.
    pub changes: Vec<Change>,
    /// The sequence the log was read through: every change up to it that the read asked for is in
    /// `changes`, so the next read starts after it even when the read skipped every row.
    pub through: i64,
}

/// A new classification for a stored item.
#[derive(Debug, Clone)]
pub struct Reclassification {
    pub item: ItemId,
    pub category: Category,
    /// Every category, primary first.
    pub categories: Vec<Category>,
    pub source: ClassificationSource,
    pub terms: Vec<String>,
    /// A new route (`Some`), or the stored one kept (`None`).
    pub route: Option<Option<String>>,
    /// A person's correction, which later polls keep (source MANUAL); otherwise the rules', which
    /// never replace a person's.
    pub manual: bool,
    /// The content hash the next poll will compute for the item, when known, so an unchanged
    /// source is not taken for a change.
    pub content_hash: Option<String>,
}

/// Where a webhook's deliveries stand after an attempt (or a decision to disable it).
#[derive(Debug, Clone)]
pub struct WebhookRun {
    /// Every matching change through this sequence has been delivered.
    pub delivered_through: i64,
    /// Failed attempts at the next delivery, in a row.
    pub attempts: i64,
    /// When the current run of failures began.
    pub failing_since: Option<DateTime<Utc>>,
    /// When to try next.
    pub next_attempt_at: DateTime<Utc>,
    /// Disable the webhook, for this reason.
    pub disable: Option<String>,
}

/// Filters on feeds.
#[derive(Debug, Clone, Default)]
pub struct FeedFilter {
    /// Owning organisations.
    pub organisations: Vec<OrgId>,
    /// States.
    pub states: Vec<FeedState>,
    /// Network slugs.
    pub networks: Vec<String>,
}

/// Filters on organisations.
#[derive(Debug, Clone, Default)]
pub struct OrgFilter {
    /// Kind.
    pub kind: Option<OrgKind>,
    /// Members (any role) of this network.
    pub network: Option<String>,
    /// IFRC region.
    pub region: Option<IfrcRegion>,
}

/// How many due feeds a claim may take.
#[derive(Debug, Clone, Copy)]
pub struct ClaimLimits<'a> {
    /// Feeds in all.
    pub total: usize,
    /// Feeds of one host, counting those of `running`.
    pub per_host: usize,
    /// Polls already running, per host.
    pub running: &'a [(String, usize)],
}

/// What a fetch learnt about a feed besides its items.
#[derive(Debug, Clone, Default)]
pub struct FetchRecord {
    /// When to poll next.
    pub next_check_at: DateTime<Utc>,
    /// New ETag.
    pub etag: Option<String>,
    /// New Last-Modified.
    pub last_modified: Option<String>,
    /// Hash of the body.
    pub body_hash: Option<String>,
    /// The feed's title.
    pub title: Option<String>,
    /// Parse warnings.
    pub warnings: Vec<String>,
}

/// What an ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// New items.
    pub created: usize,
    /// Items whose content changed.
    pub updated: usize,
    /// Items seen again unchanged.
    pub unchanged: usize,
    /// Items withdrawn because a snapshot no longer holds them.
    pub withdrawn: usize,
    /// Highest change sequence written, if any.
    pub last_sequence: Option<i64>,
    /// Items not written again because a poll of the same body cut short had stored them.
    pub resumed: usize,
}

impl IngestReport {
    /// Adds another chunk's report to this one.
    pub fn add(&mut self, other: IngestReport) {
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.withdrawn += other.withdrawn;
        self.resumed += other.resumed;
        self.last_sequence = self.last_sequence.max(other.last_sequence);
    }
}

/// What the caller of [`Store::ingest_chunk`] knows about the chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkContext<'a> {
    /// The chunk belongs to the feed's first import: its changes are marked as backfill.
    pub backfill: bool,
    /// None of the chunk's items is stored yet: the feed had no items when this fetch began, and
    /// the fetch's chunks never repeat an identity (a connector drops repeated entries). The store
    /// then does not look for existing items; were one there after all (two polls of a new feed
    /// overlapping), the chunk is written again with the lookup, never stored twice.
    pub all_new: bool,
    /// How far into which body the poll is once this chunk is stored, recorded in the chunk's own
    /// transaction: the resume point of a poll cut short.
    pub progress: Option<Progress<'a>>,
}

/// A resume point: `items` items of the body with SHA-256 `body_hash` are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<'a> {
    pub body_hash: &'a str,
    pub items: i64,
}

/// Disaggregation attributes that break a figure down by sex or age (HXL's `+f`, `+m`,
/// `+children`, …, and any `+age…`): a figure carrying one is part of a total, not a total.
pub const BREAKDOWN_ATTRIBUTES: [&str; 9] =
    ["f", "m", "i", "infants", "children", "adolescents", "youth", "adults", "elderly"];

/// Whether `attribute` breaks a figure down by sex or age.
pub fn is_breakdown(attribute: &str) -> bool {
    BREAKDOWN_ATTRIBUTES.contains(&attribute) || attribute.starts_with("age")
}

/// What seeding did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Whether the seed was applied (false when this seed version was applied before).
    pub applied: bool,
    /// Organisations added.
    pub organisations: u64,
    /// Networks added.
    pub networks: u64,
    /// Memberships added.
    pub memberships: u64,
}

/// The storage contract. Every method speaks domain types; reads that return items or feeds take
/// the caller's [`Scope`] from [`crate::access`].
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations; returns how many were applied.
    async fn migrate(&self) -> StoreResult<usize>;
    /// Whether the database answers and every migration is applied.
    async fn ready(&self) -> StoreResult<bool>;
    /// Seeds networks, organisations and memberships once per seed version.
    async fn seed(&self, seed: &Seed) -> StoreResult<SeedReport>;
    /// The data version as this process last saw it, bumped by every write (no query).
    fn data_version(&self) -> i64;
    /// Reads the data version from the database, so writes by other processes are seen; the
    /// server calls it once a second. Not counted in [`Store::query_count`].
    async fn refresh_data_version(&self) -> StoreResult<i64>;
    /// The data version, announced each time it moves: on every write here, and when
    /// [`Store::refresh_data_version`] finds writes by other processes.
    fn watch_data_version(&self) -> tokio::sync::watch::Receiver<i64>;
    /// SQL statements run so far (for `/metrics` and query-count tests).
    fn query_count(&self) -> u64;
    /// Whether the connection that follows other replicas' writes is up; `None` for a backend
    /// without one (SQLite, whose other processes are seen by reading the data version).
    fn listener_up(&self) -> Option<bool> {
        None
    }

    /// All networks, by slug.
    async fn networks(&self) -> StoreResult<Vec<Network>>;
    /// Memberships of one network, or of all.
    async fn memberships(&self, network: Option<&str>) -> StoreResult<Vec<Membership>>;
    /// Sets (adds or changes) a membership.
    async fn set_membership(&self, membership: &Membership) -> StoreResult<()>;
    /// Removes a membership; `NotFound` when there was none.
    async fn remove_membership(&self, network: &str, organisation: &OrgId) -> StoreResult<()>;
    /// Adds an organisation (an observer, an external publisher); `Conflict` when its code is taken.
    async fn create_organisation(&self, organisation: &Organisation) -> StoreResult<()>;
    /// Organisations matching a filter, by id.
    async fn organisations(&self, filter: &OrgFilter) -> StoreResult<Vec<Organisation>>;
    /// Organisations by id, in no particular order; unknown ids are skipped.
    async fn organisations_by_ids(&self, ids: &[OrgId]) -> StoreResult<Vec<Organisation>>;

    /// Creates an API token stored as the hash of its secret (and the secret's first characters);
    /// `Invalid` when the role and binding do not go together or name nothing known.
    async fn create_token(&self, token: &NewToken, secret_hash: &str, prefix: &str) -> StoreResult<Token>;
    /// Every token, revoked ones included, by id.
    async fn tokens(&self) -> StoreResult<Vec<Token>>;
    /// Revokes a token (again: no change); `NotFound` when there is none.
    async fn revoke_token(&self, id: TokenId) -> StoreResult<Token>;
    /// The viewer a secret's hash stands for, when it is a live token. Never cached.
    async fn authenticate(&self, secret_hash: &str) -> StoreResult<Option<Viewer>>;
    /// The viewer token `id` stands for, while it is live (webhooks deliver as their token).
    async fn token_viewer(&self, id: TokenId) -> StoreResult<Option<Viewer>>;

    /// Registers a webhook: it receives the matching changes committed from now on.
    async fn create_webhook(&self, webhook: &NewWebhook) -> StoreResult<Webhook>;
    /// Webhooks of one organisation, or all, by id.
    async fn webhooks(&self, organisation: Option<&OrgId>) -> StoreResult<Vec<Webhook>>;
    /// One webhook; `NotFound` when there is none.
    async fn webhook(&self, id: WebhookId) -> StoreResult<Webhook>;
    /// Changes a webhook; `NotFound` when there is none.
    async fn update_webhook(&self, id: WebhookId, update: &WebhookUpdate) -> StoreResult<Webhook>;
    /// Deletes a webhook and its delivery log; `NotFound` when there is none.
    async fn delete_webhook(&self, id: WebhookId) -> StoreResult<Webhook>;
    /// Claims ACTIVE webhooks with something to do — a retry due at `now`, or changes committed
    /// after their position while the log's head is `head` — earliest first, leasing them until
    /// `lease_until` so no other process takes their turn meanwhile.
    async fn due_webhooks(
        &self,
        now: DateTime<Utc>,
        head: i64,
        limit: usize,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Vec<Webhook>>;
    /// Ends a webhook's turn: its lease is released.
    async fn release_webhook(&self, id: WebhookId) -> StoreResult<()>;
    /// When the earliest retry of an ACTIVE webhook is due.
    async fn next_webhook_due(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Records an attempt (if one was made) and where the webhook stands. Returns false, changing
    /// nothing, when the webhook was disabled or deleted meanwhile.
    async fn record_webhook_run(
        &self,
        id: WebhookId,
        delivery: Option<&WebhookDelivery>,
        run: &WebhookRun,
    ) -> StoreResult<bool>;
    /// A webhook's latest delivery attempts, newest first.
    async fn webhook_deliveries(&self, id: WebhookId, limit: usize) -> StoreResult<Vec<WebhookDelivery>>;

    /// Registers a feed; `Conflict` when the organisation already has this URL.
    async fn add_feed(&self, feed: &NewFeed) -> StoreResult<Feed>;
    /// Changes a feed. A new URL or mapping makes its next poll read everything again, now; a new
    /// visibility applies to its items at once. `Conflict` when its organisation already has a
    /// feed at the new URL; `NotFound` when there is none.
    async fn update_feed(&self, id: FeedId, update: &FeedUpdate) -> StoreResult<Feed>;
    /// Records who did what in the audit log.
    async fn record_audit(&self, entry: &NewAuditEntry) -> StoreResult<()>;
    /// A page of the audit log, newest first.
    async fn audit_page(&self, page: &PageRequest) -> StoreResult<Page<AuditEntry>>;
    /// Deletes a feed: it is no longer listed or polled, and each of its live items is withdrawn
    /// with a WITHDRAWN change, a chunk at a time. Returns the feed and how many items were
    /// withdrawn; `NotFound` when there is none (or it was deleted already).
    async fn delete_feed(&self, id: FeedId) -> StoreResult<(Feed, usize)>;
    /// Pauses a feed (no more polls) or resumes it (ACTIVE, due now); `NotFound` when there is none.
    async fn set_feed_paused(&self, id: FeedId, paused: bool) -> StoreResult<Feed>;
    /// Feeds by id that `scope` may see.
    async fn feeds_by_ids(&self, scope: &Scope, ids: &[FeedId]) -> StoreResult<Vec<Feed>>;
    /// A page of feeds, by id.
    async fn feeds_page(&self, scope: &Scope, filter: &FeedFilter, page: &PageRequest) -> StoreResult<Page<Feed>>;
    /// Claims feeds due at `now` (ACTIVE or FAILING), earliest first, within `limits`, leasing
    /// them for `lease_secs`.
    async fn claim_due_feeds(
        &self,
        now: DateTime<Utc>,
        lease_secs: i64,
        limits: &ClaimLimits<'_>,
    ) -> StoreResult<Vec<Feed>>;
    /// The earliest `next_check_at` of an ACTIVE or FAILING feed.
    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Extends this store's lease on a feed it claimed to `until`, while a long fetch or import
    /// runs; false when the lease is no longer this store's (it ran out and another took it).
    async fn renew_lease(&self, feed: FeedId, until: DateTime<Utc>) -> StoreResult<bool>;
    /// Takes back at once the feed and webhook leases of hub processes on this machine that are
    /// no longer running (a hub killed or crashed: its leases would otherwise hold its feeds and
    /// webhooks until they ran out). Returns how many leases were freed.
    async fn free_dead_leases(&self) -> StoreResult<usize>;
    /// Records a fetch that found nothing new (304 or same body hash) and releases the lease.
    async fn record_unchanged(&self, feed: FeedId, record: &FetchRecord) -> StoreResult<()>;
    /// Records a failed fetch or parse with its reason and next retry, and releases the lease.
    async fn record_failure(&self, feed: FeedId, reason: &str, next_check_at: DateTime<Utc>) -> StoreResult<()>;
    /// Upserts one chunk of a fetched feed's items in one transaction, writing a change row only
    /// for what really changed. Items repeated within the chunk are written once.
    async fn ingest_chunk(
        &self,
        feed: &Feed,
        items: &[connectors::NormalisedItem],
        chunk: ChunkContext<'_>,
    ) -> StoreResult<IngestReport>;
    /// Whether the feed has any items stored (withdrawn ones included).
    async fn has_items(&self, feed: FeedId) -> StoreResult<bool>;
    /// Withdraws the feed's live items whose source keys are not in `keep` (a snapshot feed's
    /// complete fetch), each with a WITHDRAWN change. Returns how many, and the last sequence.
    /// The live items are read a page at a time, so a million of them never sit in memory.
    async fn withdraw_missing(&self, feed: &Feed, keep: &KeySet) -> StoreResult<(usize, Option<i64>)>;
    /// Records a successful fetch (validators, title, warnings, next poll): the feed is ACTIVE
    /// again and its lease released.
    async fn record_success(&self, feed: FeedId, record: &FetchRecord) -> StoreResult<()>;
    /// Ingests a whole fetched feed in chunks of `chunk_size`, then records the fetch.
    async fn ingest(
        &self,
        feed: &Feed,
        items: &[connectors::NormalisedItem],
        record: &FetchRecord,
        chunk_size: usize,
    ) -> StoreResult<IngestReport> {
        let context = ChunkContext { backfill: feed.last_success_at.is_none(), ..ChunkContext::default() };
        let mut report = IngestReport::default();
        for chunk in items.chunks(chunk_size.max(1)) {
            report.add(self.ingest_chunk(feed, chunk, context).await?);
        }
        self.record_success(feed.id, record).await?;
        Ok(report)
    }

    /// Changes stored items' classifications, bumping each changed item's version with an
    /// UPDATED change; returns the items that changed. `NotFound` when a manual correction names
    /// an item that does not exist.
    async fn reclassify(&self, updates: &[Reclassification]) -> StoreResult<Vec<Item>>;

    /// A page of items.
    async fn items_page(
        &self,
        scope: &Scope,
        filter: &ItemFilter,
        order: ItemOrder,
        page: &PageRequest,
    ) -> StoreResult<Page<Item>>;
    /// As [`Store::items_page`], without counting every matching item (`total_count` is 0): for
    /// a page whose reader does not ask how many there are, which on a large hub costs more than
    /// the page itself.
    async fn items_page_uncounted(
        &self,
        scope: &Scope,
        filter: &ItemFilter,
        order: ItemOrder,
        page: &PageRequest,
    ) -> StoreResult<Page<Item>>;
    /// Items by id that `scope` may see, in no particular order.
    async fn items_by_ids(&self, scope: &Scope, ids: &[ItemId]) -> StoreResult<Vec<Item>>;
    /// A page of the change log in sequence order, of changes to items `scope` may see.
    /// `CursorExpired` when the cursor is older than the pruning horizon.
    async fn changes_page(&self, scope: &Scope, filter: &ChangeFilter, page: &PageRequest)
        -> StoreResult<Page<Change>>;
    /// As [`Store::changes_page`], without the total count (`total_count` is 0), for readers that
    /// page through the log and never show it.
    async fn changes_after(
        &self,
        scope: &Scope,
        filter: &ChangeFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Change>>;
    /// The newest `limit` changes matching `filter` that `scope` may see, before sequence
    /// `before` when given, newest first (Atom feeds page backwards through the log).
    async fn latest_changes(
        &self,
        scope: &Scope,
        filter: &ChangeFilter,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Change>>;
    /// The committed change log after sequence `after`, at most `limit` changes, backfill ones
    /// only when asked: what the change fan-out reads, for every viewer at once.
    async fn change_log(&self, after: i64, limit: usize, include_backfill: bool) -> StoreResult<ChangeLogPage>;
    /// The last committed sequence of the change log (0 when it is empty).
    async fn change_head(&self) -> StoreResult<i64>;
    /// A random number made on first use and kept: the default hub id is made from it.
    async fn hub_number(&self) -> StoreResult<i64>;
    /// The last sequence pruned from the change log (0 when nothing was): a cursor before it
    /// has expired.
    async fn change_horizon(&self) -> StoreResult<i64>;
    /// Deletes the changes made before `before` (a prefix of the log, in sequence order, a
    /// chunk at a time so writers are not held up), and moves the horizon. Returns how many.
    async fn prune_changes(&self, before: DateTime<Utc>) -> StoreResult<usize>;
    /// Totals of `measure` over the live items `scope` may see that match `filter`, grouped by
    /// `group_by` and always by unit, largest first. Only figures broken down by exactly the
    /// sex and age attributes in `breakdown` count (none: the totals), so a breakdown is never
    /// added to its total; other attributes (`idps`, `funding`) do not matter.
    async fn figure_totals(
        &self,
        scope: &Scope,
        filter: &ItemFilter,
        measure: &str,
        breakdown: &[String],
        group_by: &[FigureGroup],
    ) -> StoreResult<Vec<FigureBucket>>;
}

/// Opens the store a database URL names: `sqlite:PATH`, or `postgres://…` (`postgresql://…`) with
/// `options` for its pool.
pub async fn connect(url: &str, options: &PgOptions) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(std::sync::Arc::new(PgStore::connect_with(url, options).await?))
    } else {
        anyhow::bail!(
            "unsupported database URL `{}`: Tributary speaks `sqlite:PATH` and `postgres://USER@HOST/DATABASE`",
            crate::config::redact_url(url)
        )
    }
}

/// A random positive number (for the hub number).
pub(crate) fn random_i64() -> i64 {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).expect("the system's random source");
    (u64::from_le_bytes(bytes) >> 1) as i64
}

/// The hub id made from a [`Store::hub_number`].
pub fn hub_id_from(number: i64) -> String {
    format!("hub-{number:016x}")
}
