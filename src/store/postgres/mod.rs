//! The PostgreSQL backend: many replicas on one database. Writers in one process take turns (an
//! in-process lock, as on SQLite); across replicas, row locks order them. The change log is
//! numbered under a lock held until commit, so it is read in commit order (DESIGN.md), and every
//! visible write announces the new data version with NOTIFY, so each replica's subscribers and
//! caches follow writes made on another at once.

mod changes;
mod classification;
pub(in crate::store) mod items;
mod tokens;
mod webhooks;

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{PgPool, Postgres, QueryBuilder};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

use super::rows::{self, from_millis, to_millis, FeedRow, MembershipRow, NetworkRow, OrganisationRow};
use super::sql::{push_in, push_scope};
use super::{
    ChangeLogPage, ChunkContext, ClaimLimits, FeedFilter, FetchRecord, IngestReport, ItemFilter, ItemOrder, OrgFilter,
    Page, PageRequest, SeedReport, Store, StoreError, StoreResult,
};
use crate::access::Scope;
use crate::model::{
    AuditEntry, Change, Feed, FeedId, FeedUpdate, Item, ItemId, Membership, Network, NewAuditEntry, NewFeed, NewToken,
    NewWebhook, OrgId, Organisation, Token, TokenId, Viewer, Webhook, WebhookDelivery, WebhookId, WebhookUpdate,
};
use crate::seed::{Seed, SEED_VERSION};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The channel on which every replica announces a new data version.
const CHANNEL: &str = "tributary_data_version";

/// Columns of `feeds` read into [`FeedRow`].
pub(super) const FEED_COLUMNS: &str =
    "id, organisation, url, kind, mapping, title, default_category, default_language, \
    default_countries, visibility, poll_interval_secs, state, last_error, error_count, next_check_at, \
    last_success_at, etag, last_modified, body_hash, warnings, created_at, resume_hash, resume_items, deleted_at";

/// How a replica uses its database.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections for queries (the pool keeps one more, for LISTEN).
    pub max_connections: u32,
    /// The longest a statement may run before PostgreSQL cancels it.
    pub statement_timeout: Duration,
    /// How long to wait for a free connection.
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 10,
            statement_timeout: Duration::from_secs(30),
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// The PostgreSQL store.
pub struct PgStore {
    pool: PgPool,
    /// Serialises this process's writers, as on SQLite: they would otherwise queue on the same
    /// row locks (the data version, the change sequence) holding a connection each.
    writer: Arc<Mutex<()>>,
    /// The data version as last seen, announced to the change fan-out when it moves.
    data_version: Arc<watch::Sender<i64>>,
    queries: AtomicU64,
    /// Whether the LISTEN connection is up.
    listening: Arc<AtomicBool>,
    listener: JoinHandle<()>,
    /// The name this replica's leases carry ([`super::lease_owner`]).
    owner: String,
}

/// Sets the visibility of a feed's items, locking them in rowid order as every writer does.
/// An item read from another hub keeps its source's visibility where that is stricter.
static VISIBILITY_OF_FEED_ITEMS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "UPDATE items SET visibility = {} WHERE rowid IN \
         (SELECT rowid FROM items WHERE feed = $2 ORDER BY rowid FOR NO KEY UPDATE)",
        rows::stricter_sql("$1")
    )
});

/// Remembers `v` as the data version when it is newer than the one seen.
fn remember(data_version: &watch::Sender<i64>, v: i64) {
    data_version.send_if_modified(|seen| {
        let newer = v > *seen;
        if newer {
            *seen = v;
        }
        newer
    });
}

/// Connects the LISTEN connection. Notifications sent while it was down are lost, so the data
/// version is read once it listens (when the schema is there: a new database has none yet).
async fn start_listening(pool: &PgPool, data_version: &watch::Sender<i64>) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    let v: Result<i64, _> =
        sqlx::query_scalar("SELECT value FROM meta WHERE key = 'data_version'").fetch_one(pool).await;
    if let Ok(v) = v {
        remember(data_version, v);
    }
    Ok(listener)
}

/// Follows the data version other replicas announce, reconnecting when the connection drops.
async fn listen(
    pool: PgPool,
    mut first: Option<PgListener>,
    data_version: Arc<watch::Sender<i64>>,
    listening: Arc<AtomicBool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = match first.take() {
            Some(listener) => Ok(listener),
            None => start_listening(&pool, &data_version).await,
        };
        let error = match connected {
            Ok(mut listener) => {
                listening.store(true, Ordering::Relaxed);
                backoff = Duration::from_millis(100);
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => {
                            if let Ok(v) = n.payload().parse() {
                                remember(&data_version, v);
                            }
                        }
                        Ok(None) => break sqlx::Error::PoolClosed,
                        Err(e) => break e,
                    }
                }
            }
            Err(e) => e,
        };
        listening.store(false, Ordering::Relaxed);
        if pool.is_closed() {
            return;
        }
        tracing::warn!(%error, "the LISTEN connection to PostgreSQL was lost; reconnecting");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

impl PgStore {
    /// Connects to the database at a `postgres:` URL with the default options.
    pub async fn connect(url: &str) -> StoreResult<PgStore> {
        PgStore::connect_with(url, &PgOptions::default()).await
    }

    /// Connects to the database at a `postgres:` URL.
    pub async fn connect_with(url: &str, options: &PgOptions) -> StoreResult<PgStore> {
        let timeout = format!("{}ms", options.statement_timeout.as_millis());
        let connect = PgConnectOptions::from_str(url)?
            .application_name("tributary")
            // A plan made once for any value of its parameters can be a thousand times slower
            // for some (a facet held by a third of the items, or by a handful): each statement
            // is planned for its own values, which costs about a millisecond.
            .options([("statement_timeout", timeout.as_str()), ("plan_cache_mode", "force_custom_plan")]);
        let pool = PgPoolOptions::new()
            // The LISTEN connection is one of the pool's, held for good.
            .max_connections(options.max_connections.max(1) + 1)
            .min_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        let data_version = Arc::new(watch::Sender::new(0));
        // Listening from the start, so a replica is ready as soon as it is up.
        let first = start_listening(&pool, &data_version).await?;
        let listening = Arc::new(AtomicBool::new(true));
        let listener =
            tokio::spawn(listen(pool.clone(), Some(first), Arc::clone(&data_version), Arc::clone(&listening)));
        Ok(PgStore {
            pool,
            writer: Arc::new(Mutex::new(())),
            data_version,
            queries: AtomicU64::new(0),
            listening,
            listener,
            owner: super::lease_owner(),
        })
    }

    /// The pool, for copying a hub in (`super::copy`).
    pub(in crate::store) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether the LISTEN connection that follows other replicas' writes is up.
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    async fn commit(&self, tx: sqlx::Transaction<'static, Postgres>) -> StoreResult<()> {
        tx.commit().await?;
        Ok(())
    }

    /// Commits a write that changes what the API shows: the data version is bumped and announced
    /// inside the transaction (NOTIFY is delivered on commit) and remembered once committed.
    async fn commit_visible(&self, mut tx: sqlx::Transaction<'static, Postgres>) -> StoreResult<()> {
        let v = self.bump_version(&mut tx).await?;
        self.commit(tx).await?;
        self.remember_version(v);
        Ok(())
    }

    /// Counts `n` SQL statements.
    fn count(&self, n: u64) {
        self.queries.fetch_add(n, Ordering::Relaxed);
    }

    /// Bumps and announces the data version inside a write transaction.
    async fn bump_version(&self, tx: &mut sqlx::Transaction<'_, Postgres>) -> StoreResult<i64> {
        self.count(2);
        let v: i64 = sqlx::query_scalar("UPDATE meta SET value = value + 1 WHERE key = 'data_version' RETURNING value")
            .fetch_one(&mut **tx)
            .await?;
        sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(v.to_string()).execute(&mut **tx).await?;
        Ok(v)
    }

    fn remember_version(&self, v: i64) {
        remember(&self.data_version, v);
    }

    /// Takes `n` change sequences, returning the first. The counter row stays locked until the
    /// transaction ends, so sequences are committed in order: take them as late as possible.
    async fn take_sequences(&self, tx: &mut sqlx::Transaction<'_, Postgres>, n: usize) -> StoreResult<i64> {
        self.count(1);
        let last: i64 =
            sqlx::query_scalar("UPDATE meta SET value = value + $1 WHERE key = 'change_sequence' RETURNING value")
                .bind(n as i64)
                .fetch_one(&mut **tx)
                .await?;
        Ok(last - n as i64 + 1)
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Inserts an organisation unless its id is taken; returns how many rows were inserted (0 or 1).
async fn insert_organisation(tx: &mut sqlx::Transaction<'_, Postgres>, o: &Organisation) -> StoreResult<u64> {
    Ok(sqlx::query(
        "INSERT INTO organisations (id, kind, name_en, name_local, local_language, region, source) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&o.id.0)
    .bind(o.kind.as_str())
    .bind(&o.name_en)
    .bind(&o.name_local)
    .bind(&o.local_language)
    .bind(o.region.map(|r| r.as_str()))
    .bind(&o.source)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> StoreResult<usize> {
        let _w = self.writer.lock().await;
        self.count(1);
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.pool)
            .await
            .unwrap_or_default();
        MIGRATOR.run(&self.pool).await?;
        let pending = MIGRATOR.iter().filter(|m| !applied.contains(&m.version)).count();
        drop(_w);
        self.refresh_data_version().await?;
        Ok(pending)
    }

    async fn ready(&self) -> StoreResult<bool> {
        self.count(1);
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(&self.pool).await?;
        Ok(MIGRATOR.iter().all(|m| applied.contains(&m.version)))
    }

    async fn seed(&self, seed: &Seed) -> StoreResult<SeedReport> {
        let _w = self.writer.lock().await;
        let mut tx = self.begin_write().await?;
        self.count(1);
        let done: i64 = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'seed_version' FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
        if done >= SEED_VERSION {
            return Ok(SeedReport::default());
        }
        let mut report = SeedReport { applied: true, ..SeedReport::default() };
        for o in &seed.organisations {
            self.count(1);
            report.organisations += insert_organisation(&mut tx, o).await?;
        }
        for n in &seed.networks {
            self.count(1);
            report.networks += sqlx::query(
                "INSERT INTO networks (slug, short_name, name_en, region, founded, description, source) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (slug) DO NOTHING",
            )
            .bind(&n.slug)
            .bind(&n.short_name)
            .bind(&n.name_en)
            .bind(n.region.map(|r| r.as_str()))
            .bind(&n.founded)
            .bind(&n.description)
            .bind(&n.source)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        for m in &seed.memberships {
            self.count(1);
            report.memberships += sqlx::query(
                "INSERT INTO memberships (network, organisation, role, source) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (network, organisation) DO NOTHING",
            )
            .bind(&m.network)
            .bind(&m.organisation.0)
            .bind(m.role.as_str())
            .bind(&m.source)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        self.count(1);
        sqlx::query("UPDATE meta SET value = $1 WHERE key = 'seed_version'")
            .bind(SEED_VERSION)
            .execute(&mut *tx)
            .await?;
        self.commit_visible(tx).await?;
        Ok(report)
    }

    fn data_version(&self) -> i64 {
        *self.data_version.borrow()
    }

    fn watch_data_version(&self) -> watch::Receiver<i64> {
        self.data_version.subscribe()
    }

    async fn refresh_data_version(&self) -> StoreResult<i64> {
        let v: i64 =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'data_version'").fetch_one(&self.pool).await?;
        self.remember_version(v);
        Ok(self.data_version())
    }

    fn query_count(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    fn listener_up(&self) -> Option<bool> {
        Some(self.listening())
    }

    async fn networks(&self) -> StoreResult<Vec<Network>> {
        self.count(1);
        let rows: Vec<NetworkRow> = sqlx::query_as(
            "SELECT slug, short_name, name_en, region, founded, description, source FROM networks ORDER BY rowid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Network::try_from).collect()
    }

    async fn memberships(&self, network: Option<&str>) -> StoreResult<Vec<Membership>> {
        self.count(1);
        let rows: Vec<MembershipRow> = sqlx::query_as(
            "SELECT network, organisation, role, source FROM memberships \
             WHERE $1 IS NULL OR network = $1 ORDER BY network, organisation",
        )
        .bind(network)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Membership::try_from).collect()
    }

    async fn set_membership(&self, m: &Membership) -> StoreResult<()> {
        let _w = self.writer.lock().await;
        let mut tx = self.begin_write().await?;
        self.count(3);
        let known: Option<i64> = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM networks WHERE slug = $1) * (SELECT count(*) FROM organisations WHERE id = $2)",
        )
        .bind(&m.network)
        .bind(&m.organisation.0)
        .fetch_optional(&mut *tx)
        .await?;
        if known.unwrap_or(0) == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO memberships (network, organisation, role, source) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (network, organisation) DO UPDATE SET role = excluded.role, source = excluded.source",
        )
        .bind(&m.network)
        .bind(&m.organisation.0)
        .bind(m.role.as_str())
        .bind(&m.source)
        .execute(&mut *tx)
        .await?;
        self.commit_visible(tx).await?;
        Ok(())
    }

    async fn create_organisation(&self, o: &Organisation) -> StoreResult<()> {
        let _w = self.writer.lock().await;
        let mut tx = self.begin_write().await?;
        self.count(1);
        if insert_organisation(&mut tx, o).await? == 0 {
            return Err(StoreError::Conflict(format!("there is already an organisation `{}`", o.id)));
        }
        self.commit_visible(tx).await?;
        Ok(())
    }

    async fn remove_membership(&self, network: &str, organisation: &OrgId) -> StoreResult<()> {
        let _w = self.writer.lock().await;
        let mut tx = self.begin_write().await?;
        self.count(1);
        let removed = sqlx::query("DELETE FROM memberships WHERE network = $1 AND organisation = $2")
            .bind(network)
            .bind(&organisation.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            return Err(StoreError::NotFound);
        }
        self.commit_visible(tx).await?;
        Ok(())
    }

    async fn organisations(&self, filter: &OrgFilter) -> StoreResult<Vec<Organisation>> {
        self.count(1);
        let mut qb = QueryBuilder::<Postgres>::new(
            "SELECT id, kind, name_en, name_local, local_language, region, source FROM organisations o WHERE 1 = 1",
        );
        if let Some(kind) = filter.kind {
            qb.push(" AND o.kind = ").push_bind(kind.as_str());
        }
        if let Some(region) = filter.region {
            qb.push(" AND o.region = ").push_bind(region.as_str());
        }
        if let Some(network) = &filter.network {
            qb.push(" AND o.id IN (SELECT organisation FROM memberships WHERE network = ").push_bind(network).push(")");
        }
        qb.push(" ORDER BY o.id");
        let rows: Vec<OrganisationRow> = qb.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter().map(Organisation::try_from).collect()
    }

    async fn organisations_by_ids(&self, ids: &[OrgId]) -> StoreResult<Vec<Organisation>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.count(1);
        let mut qb = QueryBuilder::<Postgres>::new(
            "SELECT id, kind, name_en, name_local, local_language, region, source FROM organisations WHERE 1 = 1",
        );
        push_in(&mut qb, "id", ids.iter().map(|i| i.0.as_str()));
        let rows: Vec<OrganisationRow> = qb.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter().map(Organisation::try_from).collect()
    }

    async fn update_feed(&self, id: FeedId, u: &FeedUpdate) -> StoreResult<Feed> {
        if let Some((kind, mapping)) = &u.kind_and_mapping {
            NewFeed::check_kind_and_mapping(*kind, mapping.as_deref()).map_err(StoreError::Invalid)?;
        }
        let _w = self.writer.lock().await;
        let mut tx = self.begin_write().await?;
        self.count(2);
        // What the next poll must read afresh: a new source, or a new way of reading it.
        let reread = u.url.is_some() || u.kind_and_mapping.is_some();
        let mut qb = QueryBuilder::<Postgres>::new("UPDATE feeds SET id = id");
        if let Some(url) = &u.url {
            qb.push(", url = ").push_bind(url.as_str().to_string()).push(", host = ").push_bind(url.host());
        }
        if let Some((kind, mapping)) = &u.kind_and_mapping {
            qb.push(", kind = ").push_bind(kind.as_str()).push(", mapping = ").push_bind(mapping.clone());
        }
        if let Some(v) = u.visibility {
            qb.push(", visibility = ").push_bind(v.as_str());
        }
        if let Some(c) = u.default_category {
            qb.push(", default_category = ").push_bind(c.as_str());
        }
        if let Some(l) = &u.default_language {
            qb.push(", default_language = ").push_bind(l.clone());
        }
        if let Some(c) = &u.default_countries {
            qb.push(", default_countries = ").push_bind(rows::countries_to_text(c));
        }
        if let Some(s) = u.poll_interval_secs {
            qb.push(", poll_interval_secs = ").push_bind(s);
        }
        if reread {
            qb.push(", etag = NULL, last_modified = NULL, body_hash = NULL, resume_hash = NULL, resume_items = 0");
            qb.push(", next_check_at = ").push_bind(to_millis(Utc::now()));
        }
        qb.push(" WHERE id = ").push_bind(id.0).push(" AND deleted_at IS NULL");
        qb.push(format!(" RETURNING {FEED_COLUMNS}"));
        let row: Option<FeedRow> = match qb.build_query_as().fetch_optional(&mut *tx).await {
            Ok(row) => row,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Conflict("its organisation already has a feed at that URL".into()))
            }
            Err(e) => return Err(e.into()),
        };
        let feed: Feed = row.ok_or(StoreError::NotFound)?.try_into()?;
        if let Some(v) = u.visibility {
            self.count(1);
            sqlx::query(&VISIBILITY_OF_FEED_ITEMS).bind(v.as_str()).bind(id.0).execute(&mut *tx).await?;
        }
        self.commit_visible(tx).await?;
        Ok(feed)
    }

    async fn record_audit(&self, entry: &NewAuditEntry) -> StoreResult<()> {
        let _w = self.writer.lock().await;
        let mut tx = self.begin_write().await?;
        self.count(1);
        sqlx::query("INSERT INTO audit_log (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)")
            .bind(to_millis(Utc::now()))
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(&entry.subject)
            .bind(&entry.detail)
            .execute(&mut *tx)
            .await?;
        // `auditLog` is an answer the response cache may hold.
        self.commit_visible(tx).await?;
        Ok(())
    }

    async fn audit_page(&self, page: &PageRequest) -> StoreResult<Page<AuditEntry>> {
        let before: i64 = match &page.after {
            Some(c) => c.parse().map_err(|_| StoreError::Invalid("not a cursor of the audit log".into()))?,
            None => i64::MAX,
        };
        self.count(2);
        let total_count: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&self.pool).await?;
        let rows: Vec<(i64, i64, String, String, String, String)> = sqlx::query_as(
            "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before)
        .bind(page.first as i64 + 1)
        .fetch_all(&self.pool)
        .await?;
        let has_next_page = rows.len() > page.first;
        let edges = rows
            .into_iter()
            .take(page.first)
            .map(|(id, at, actor, action, subject, detail)| {
                (id.to_string(), AuditEntry { id, at: from_millis(at), actor, action, subject, detail })
            })
            .collect();
        Ok(Page { edges, has_next_page, total_count })
    }

    async fn delete_feed(&self, id: FeedId) -> StoreResult<(Feed, usize)> {
        items::delete_feed(self, id).await
    }

    async fn set_feed_paused(&self, id: FeedId, paused: bool) -> StoreResult<Feed> {
        let _w = self.writer.lock().await;
        let mut tx = self.begin_write().await?;
        self.count(1);
        let row: Option<FeedRow> = sqlx::query_as(&format!(
            "UPDATE feeds SET state = CASE WHEN $1 THEN 'PAUSED' WHEN state = 'PAUSED' THEN 'ACTIVE' ELSE state END, \
             next_check_at = CASE WHEN $2 THEN next_check_at ELSE LEAST(next_check_at, $3) END \
             WHERE id = $4 AND deleted_at IS NULL RETURNING {FEED_COLUMNS}"
        ))
        .bind(paused)
        .bind(paused)
        .bind(to_millis(Utc::now()))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let feed: Feed = row.ok_or(StoreError::NotFound)?.try_into()?;
        self.commit_visible(tx).await?;
        Ok(feed)
    }

    async fn create_token(&self, token: &NewToken, secret_hash: &str, prefix: &str) -> StoreResult<Token> {
        tokens::create(self, token, secret_hash, prefix).await
    }

    async fn tokens(&self) -> StoreResult<Vec<Token>> {
        tokens::list(self).await
    }

    async fn revoke_token(&self, id: TokenId) -> StoreResult<Token> {
        tokens::revoke(self, id).await
    }

    async fn authenticate(&self, secret_hash: &str) -> StoreResult<Option<Viewer>> {
        tokens::authenticate(self, secret_hash).await
    }

    async fn add_feed(&self, f: &NewFeed) -> StoreResult<Feed> {
        f.check().map_err(StoreError::Invalid)?;
        let _w = self.writer.lock().await;
        let mut tx = self.begin_write().await?;
        self.count(2);
        let known: i64 = sqlx::query_scalar("SELECT count(*) FROM organisations WHERE id = $1")
            .bind(&f.organisation.0)
            .fetch_one(&mut *tx)
            .await?;
        if known == 0 {
            return Err(StoreError::Invalid(format!("no organisation `{}`", f.organisation)));
        }
        let now = to_millis(Utc::now());
        // A failed statement would end the transaction, so a taken URL is not an error here.
        let inserted: Option<FeedRow> = sqlx::query_as(&format!(
            "INSERT INTO feeds (organisation, url, host, kind, mapping, default_category, default_language, \
             default_countries, visibility, poll_interval_secs, next_check_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (organisation, url) DO NOTHING RETURNING {FEED_COLUMNS}"
        ))
        .bind(&f.organisation.0)
        .bind(f.url.as_str())
        .bind(f.url.host())
        .bind(f.kind.as_str())
        .bind(&f.mapping)
        .bind(f.default_category.map(|c| c.as_str()))
        .bind(&f.default_language)
        .bind(rows::countries_to_text(&f.default_countries))
        .bind(f.visibility.as_str())
        .bind(f.poll_interval_secs)
        .bind(now)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let row = match inserted {
            Some(row) => row,
            None => {
                // A deleted feed registered again comes back, with the new settings; its next
                // poll publishes its items again.
                self.count(1);
                let revived: Option<FeedRow> = sqlx::query_as(&format!(
                    "UPDATE feeds SET kind = $1, mapping = $2, default_category = $3, default_language = $4, \
                     default_countries = $5, visibility = $6, poll_interval_secs = $7, next_check_at = $8, state = 'ACTIVE', \
                     last_error = NULL, error_count = 0, etag = NULL, last_modified = NULL, body_hash = NULL, \
                     lease_until = NULL, deleted_at = NULL, resume_hash = NULL, resume_items = 0 \
                     WHERE organisation = $9 AND url = $10 AND deleted_at IS NOT NULL RETURNING {FEED_COLUMNS}"
                ))
                .bind(f.kind.as_str())
                .bind(&f.mapping)
                .bind(f.default_category.map(|c| c.as_str()))
                .bind(&f.default_language)
                .bind(rows::countries_to_text(&f.default_countries))
                .bind(f.visibility.as_str())
                .bind(f.poll_interval_secs)
                .bind(now)
                .bind(&f.organisation.0)
                .bind(f.url.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                match revived {
                    Some(row) => {
                        // Its withdrawn items, reachable through `item` and `changes`, take the
                        // new visibility too.
                        self.count(1);
                        sqlx::query(&VISIBILITY_OF_FEED_ITEMS)
                            .bind(f.visibility.as_str())
                            .bind(row.id())
                            .execute(&mut *tx)
                            .await?;
                        row
                    }
                    None => {
                        return Err(StoreError::Conflict(format!(
                            "`{}` already has a feed at {}",
                            f.organisation,
                            f.url.as_str()
                        )))
                    }
                }
            }
        };
        self.commit_visible(tx).await?;
        Feed::try_from(row)
    }

    async fn feeds_by_ids(&self, scope: &Scope, ids: &[FeedId]) -> StoreResult<Vec<Feed>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.count(1);
        let mut qb = QueryBuilder::<Postgres>::new(format!("SELECT {FEED_COLUMNS} FROM feeds f WHERE 1 = 1"));
        push_scope(&mut qb, scope, "f");
        push_in(&mut qb, "f.id", ids.iter().map(|i| i.0));
        let rows: Vec<FeedRow> = qb.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter().map(Feed::try_from).collect()
    }

    async fn feeds_page(&self, scope: &Scope, filter: &FeedFilter, page: &PageRequest) -> StoreResult<Page<Feed>> {
        let after: i64 = match &page.after {
            Some(c) => c.parse().map_err(|_| StoreError::Invalid("invalid cursor".into()))?,
            None => 0,
        };
        let build = |qb: &mut QueryBuilder<'_, Postgres>| {
            push_scope(qb, scope, "f");
            qb.push(" AND f.deleted_at IS NULL");
            push_in(qb, "f.organisation", filter.organisations.iter().map(|o| o.0.clone()));
            push_in(qb, "f.state", filter.states.iter().map(|s| s.as_str()));
            if !filter.networks.is_empty() {
                qb.push(" AND f.organisation IN (SELECT organisation FROM memberships WHERE 1 = 1");
                push_in(qb, "network", filter.networks.iter().cloned());
                qb.push(")");
            }
        };
        self.count(2);
        let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM feeds f WHERE 1 = 1");
        build(&mut count);
        let total_count: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut qb = QueryBuilder::<Postgres>::new(format!("SELECT {FEED_COLUMNS} FROM feeds f WHERE f.id > "));
        qb.push_bind(after);
        build(&mut qb);
        qb.push(" ORDER BY f.id LIMIT ").push_bind(page.first as i64 + 1);
        let rows: Vec<FeedRow> = qb.build_query_as().fetch_all(&self.pool).await?;
        let mut feeds = rows.into_iter().map(Feed::try_from).collect::<StoreResult<Vec<_>>>()?;
        let has_next_page = feeds.len() > page.first;
        feeds.truncate(page.first);
        Ok(Page { edges: feeds.into_iter().map(|f| (f.id.0.to_string(), f)).collect(), has_next_page, total_count })
    }

    async fn claim_due_feeds(
        &self,
        now: DateTime<Utc>,
        lease_secs: i64,
        limits: &ClaimLimits<'_>,
    ) -> StoreResult<Vec<Feed>> {
        let _w = self.writer.lock().await;
        self.count(1);
        let now_ms = to_millis(now);
        // Rank each host's due feeds; a feed is chosen when its rank plus the host's running polls
        // (in this replica) stays within the per-host limit. The chosen rows are then locked with
        // SKIP LOCKED and their lease checked again, so two replicas claiming at once never take
        // the same feed: the second skips what the first holds, and sees its lease once committed.
        let mut qb = QueryBuilder::<Postgres>::new("WITH ");
        if !limits.running.is_empty() {
            qb.push("running (host, n) AS (VALUES ");
            let mut list = qb.separated(", ");
            for (host, n) in limits.running {
                list.push("(").push_bind_unseparated(host.as_str()).push_unseparated("::text, ");
                list.push_bind_unseparated(i64::try_from(*n).unwrap_or(i64::MAX)).push_unseparated("::bigint)");
            }
            qb.push("), ");
        }
        qb.push("chosen AS (SELECT id FROM (SELECT f.id, f.next_check_at, ");
        qb.push("row_number() OVER (PARTITION BY f.host ORDER BY f.next_check_at, f.id) AS rank, ");
        if limits.running.is_empty() {
            qb.push("0 AS busy ");
        } else {
            qb.push("coalesce((SELECT n FROM running r WHERE r.host = f.host), 0) AS busy ");
        }
        qb.push("FROM feeds f WHERE f.state <> 'PAUSED' AND f.deleted_at IS NULL AND f.next_check_at <= ")
            .push_bind(now_ms);
        qb.push(" AND (f.lease_until IS NULL OR f.lease_until < ").push_bind(now_ms).push(")) ranked ");
        qb.push("WHERE rank + busy <= ").push_bind(i64::try_from(limits.per_host).unwrap_or(i64::MAX));
        qb.push(" ORDER BY next_check_at, id LIMIT ").push_bind(i64::try_from(limits.total).unwrap_or(i64::MAX));
        qb.push("), locked AS (SELECT f.id FROM feeds f WHERE f.id IN (SELECT id FROM chosen) ");
        qb.push("AND f.state <> 'PAUSED' AND f.deleted_at IS NULL AND f.next_check_at <= ").push_bind(now_ms);
        qb.push(" AND (f.lease_until IS NULL OR f.lease_until < ").push_bind(now_ms);
        qb.push(") FOR UPDATE SKIP LOCKED) ");
        qb.push("UPDATE feeds SET lease_owner = ").push_bind(self.owner.as_str());
        qb.push(", lease_until = ").push_bind(now_ms + lease_secs * 1000);
        qb.push(format!(" WHERE id IN (SELECT id FROM locked) RETURNING {FEED_COLUMNS}"));
        let rows: Vec<FeedRow> = qb.build_query_as().fetch_all(&self.pool).await?;
        let mut feeds = rows.into_iter().map(Feed::try_from).collect::<StoreResult<Vec<_>>>()?;
        feeds.sort_by_key(|f| (f.next_check_at, f.id.0));
        Ok(feeds)
    }

    async fn renew_lease(&self, feed: FeedId, until: DateTime<Utc>) -> StoreResult<bool> {
        self.count(1);
        let renewed = sqlx::query("UPDATE feeds SET lease_until = $1 WHERE id = $2 AND lease_owner = $3")
            .bind(to_millis(until))
            .bind(feed.0)
            .bind(&self.owner)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(renewed > 0)
    }

    async fn free_dead_leases(&self) -> StoreResult<usize> {
        let owners: Vec<String> = sqlx::query_scalar(super::sql::LEASE_OWNERS).fetch_all(&self.pool).await?;
        let dead: Vec<String> = owners.into_iter().filter(|o| super::lease_owner_is_dead(o)).collect();
        if dead.is_empty() {
            return Ok(0);
        }
        let mut freed = 0;
        for table in ["feeds", "webhooks"] {
            let sql = format!("UPDATE {table} SET lease_until = NULL, lease_owner = NULL WHERE lease_owner = ANY($1)");
            freed += sqlx::query(&sql).bind(&dead).execute(&self.pool).await?.rows_affected() as usize;
        }
        Ok(freed)
    }

    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.count(1);
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT min(GREATEST(next_check_at, coalesce(lease_until, 0))) FROM feeds \
             WHERE state <> 'PAUSED' AND deleted_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(next.map(from_millis))
    }

    async fn record_unchanged(&self, feed: FeedId, record: &FetchRecord) -> StoreResult<()> {
        let _w = self.writer.lock().await;
        let mut tx = self.begin_write().await?;
        // Only a state the API shows (FAILING → ACTIVE) bumps the data version; a quiet 304 must
        // not flush every cache.
        self.count(2);
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM feeds WHERE id = $1").bind(feed.0).fetch_optional(&mut *tx).await?;
        let Some(state) = state else { return Err(StoreError::NotFound) };
        let was_failing = state == "FAILING";
        sqlx::query(
            "UPDATE feeds SET state = CASE WHEN state = 'PAUSED' THEN 'PAUSED' ELSE 'ACTIVE' END, last_error = NULL, \
             error_count = 0, lease_until = CASE WHEN lease_owner = $7 THEN NULL ELSE lease_until END, lease_owner = CASE WHEN lease_owner = $7 THEN NULL ELSE lease_owner END, \
             next_check_at = $1, last_success_at = $2, etag = coalesce($3, etag), \
             last_modified = coalesce($4, last_modified), body_hash = coalesce($5, body_hash) WHERE id = $6",
        )
        .bind(to_millis(record.next_check_at))
        .bind(to_millis(Utc::now()))
        .bind(&record.etag)
        .bind(&record.last_modified)
        .bind(&record.body_hash)
        .bind(feed.0)
        .bind(&self.owner)
        .execute(&mut *tx)
        .await?;
        let v = if was_failing { Some(self.bump_version(&mut tx).await?) } else { None };
        self.commit(tx).await?;
        if let Some(v) = v {
            self.remember_version(v);
        }
        Ok(())
    }

    async fn record_failure(&self, feed: FeedId, reason: &str, next_check_at: DateTime<Utc>) -> StoreResult<()> {
        let _w = self.writer.lock().await;
        let mut tx = self.begin_write().await?;
        self.count(1);
        let updated = sqlx::query(
            "UPDATE feeds SET state = CASE WHEN state = 'PAUSED' THEN 'PAUSED' ELSE 'FAILING' END, \
             last_error = $1, error_count = error_count + 1, next_check_at = $2, \
             lease_until = CASE WHEN lease_owner = $4 THEN NULL ELSE lease_until END, lease_owner = CASE WHEN lease_owner = $4 THEN NULL ELSE lease_owner END WHERE id = $3",
        )
        .bind(reason)
        .bind(to_millis(next_check_at))
        .bind(feed.0)
        .bind(&self.owner)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
        self.commit_visible(tx).await?;
        Ok(())
    }

    async fn ingest_chunk(
        &self,
        feed: &Feed,
        items: &[connectors::NormalisedItem],
        chunk: ChunkContext<'_>,
    ) -> StoreResult<IngestReport> {
        items::ingest_chunk(self, feed, items, chunk).await
    }

    async fn figure_totals(
        &self,
        scope: &Scope,
        filter: &ItemFilter,
        measure: &str,
        breakdown: &[String],
        group_by: &[crate::model::FigureGroup],
    ) -> StoreResult<Vec<crate::model::FigureBucket>> {
        items::figure_totals(self, scope, filter, measure, breakdown, group_by).await
    }

    async fn withdraw_missing(&self, feed: &Feed, keep: &connectors::KeySet) -> StoreResult<(usize, Option<i64>)> {
        items::withdraw_missing(self, feed, keep).await
    }

    async fn has_items(&self, feed: FeedId) -> StoreResult<bool> {
        self.count(1);
        let found: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM items WHERE feed = $1)")
            .bind(feed.0)
            .fetch_one(&self.pool)
            .await?;
        Ok(found)
    }

    async fn record_success(&self, feed: FeedId, record: &FetchRecord) -> StoreResult<()> {
        items::record_success(self, feed, record).await
    }

    async fn items_page(
        &self,
        scope: &Scope,
        filter: &ItemFilter,
        order: ItemOrder,
        page: &PageRequest,
    ) -> StoreResult<Page<Item>> {
        items::page(self, scope, filter, order, page, true).await
    }

    async fn items_page_uncounted(
        &self,
        scope: &Scope,
        filter: &ItemFilter,
        order: ItemOrder,
        page: &PageRequest,
    ) -> StoreResult<Page<Item>> {
        items::page(self, scope, filter, order, page, false).await
    }

    async fn items_by_ids(&self, scope: &Scope, ids: &[ItemId]) -> StoreResult<Vec<Item>> {
        items::by_ids(self, scope, ids).await
    }

    async fn changes_page(
        &self,
        scope: &Scope,
        filter: &super::ChangeFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Change>> {
        changes::changes(self, scope, filter, page).await
    }

    async fn reclassify(&self, updates: &[super::Reclassification]) -> StoreResult<Vec<Item>> {
        classification::reclassify(self, updates).await
    }

    async fn token_viewer(&self, id: TokenId) -> StoreResult<Option<Viewer>> {
        tokens::viewer(self, id).await
    }

    async fn create_webhook(&self, webhook: &NewWebhook) -> StoreResult<Webhook> {
        webhooks::create(self, webhook).await
    }

    async fn webhooks(&self, organisation: Option<&OrgId>) -> StoreResult<Vec<Webhook>> {
        webhooks::list(self, organisation).await
    }

    async fn webhook(&self, id: WebhookId) -> StoreResult<Webhook> {
        webhooks::get(self, id).await
    }

    async fn update_webhook(&self, id: WebhookId, update: &WebhookUpdate) -> StoreResult<Webhook> {
        webhooks::update(self, id, update).await
    }

    async fn delete_webhook(&self, id: WebhookId) -> StoreResult<Webhook> {
        webhooks::delete(self, id).await
    }

    async fn due_webhooks(
        &self,
        now: DateTime<Utc>,
        head: i64,
        limit: usize,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Vec<Webhook>> {
        webhooks::due(self, now, head, limit, lease_until).await
    }

    async fn release_webhook(&self, id: WebhookId) -> StoreResult<()> {
        webhooks::release(self, id).await
    }

    async fn next_webhook_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        webhooks::next_due(self).await
    }

    async fn record_webhook_run(
        &self,
        id: WebhookId,
        delivery: Option<&WebhookDelivery>,
        run: &super::WebhookRun,
    ) -> StoreResult<bool> {
        webhooks::record(self, id, delivery, run).await
    }

    async fn webhook_deliveries(&self, id: WebhookId, limit: usize) -> StoreResult<Vec<WebhookDelivery>> {
        webhooks::deliveries(self, id, limit).await
    }

    async fn changes_after(
        &self,
        scope: &Scope,
        filter: &super::ChangeFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Change>> {
        changes::changes_uncounted(self, scope, filter, page).await
    }

    async fn latest_changes(
        &self,
        scope: &Scope,
        filter: &super::ChangeFilter,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Change>> {
        changes::latest_changes(self, scope, filter, before, limit).await
    }

    async fn change_log(&self, after: i64, limit: usize, include_backfill: bool) -> StoreResult<ChangeLogPage> {
        changes::change_log(self, after, limit, include_backfill).await
    }

    async fn hub_number(&self) -> StoreResult<i64> {
        self.count(2);
        sqlx::query("INSERT INTO meta (key, value) VALUES ('hub_number', $1) ON CONFLICT (key) DO NOTHING")
            .bind(super::random_i64())
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = 'hub_number'").fetch_one(&self.pool).await?)
    }

    async fn change_head(&self) -> StoreResult<i64> {
        changes::change_head(self).await
    }

    async fn change_horizon(&self) -> StoreResult<i64> {
        changes::change_horizon(self).await
    }

    async fn prune_changes(&self, before: DateTime<Utc>) -> StoreResult<usize> {
        changes::prune_changes(self, before).await
    }
}
