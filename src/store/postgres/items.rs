//! Items on PostgreSQL: idempotent chunked ingestion with change rows numbered in commit order,
//! filtered keyset pages, full-text search with PostgreSQL's text search.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use connectors::{KeySet, NormalisedItem};
use sqlx::{Postgres, QueryBuilder};

use super::rows::{self, to_millis, ItemRow};
use super::{push_in, push_scope, PgStore};
use crate::access::Scope;
use crate::model::{ChangeKind, CountryCode, Feed, FeedId, FigureBucket, FigureGroup, Item, ItemId};
use crate::store::{
    ChunkContext, FetchRecord, IngestReport, ItemFilter, ItemOrder, Page, PageRequest, StoreError, StoreResult,
};

pub(super) const ITEM_COLUMNS: &str =
    "i.rowid, i.id, i.feed, i.organisation, i.visibility, i.title, i.summary, i.url, i.language, \
    i.direction, i.published_at, i.updated_at, i.sort_published, i.sort_updated, i.category, i.categories, \
    i.classification_source, i.terms, i.countries, i.route, i.figures, i.version, i.content_hash, i.first_seen_at, \
    i.withdrawn_at, i.provenance, (SELECT p.id FROM items p WHERE p.rowid = i.duplicate_of AND \
    p.withdrawn_at IS NULL AND (p.visibility = 'PUBLIC' OR (p.visibility = i.visibility AND \
    p.organisation = i.organisation))) AS duplicate_of";

/// Holds for an item that duplicates a first item which is still live and which everyone who may
/// see this one may see too. A link stops hiding an item when its first item is withdrawn (or
/// its feed deleted) or becomes less visible: nobody loses the story.
const HIDDEN_DUPLICATE: &str = "EXISTS (SELECT 1 FROM items p WHERE p.rowid = i.duplicate_of AND \
    p.withdrawn_at IS NULL AND (p.visibility = 'PUBLIC' OR (p.visibility = i.visibility AND \
    p.organisation = i.organisation)))";

/// Rows per multi-row INSERT (SQLite allows 32,766 bound parameters per statement).
const INSERT_BATCH: usize = 200;

/// The longest search text indexed, in bytes: PostgreSQL refuses a `tsvector` over 1 MB, and a
/// search never needs more of one item than this.
const MAX_SEARCH_TEXT: usize = 256 * 1024;

/// An item about to be written.
struct Pending<'a> {
    id: ItemId,
    item: &'a NormalisedItem,
    hash: String,
    version: i64,
    /// The row's rowid: known for updates, assigned before insertion for new items.
    rowid: i64,
}

pub(super) async fn ingest_chunk(
    store: &PgStore,
    feed: &Feed,
    items: &[NormalisedItem],
    context: ChunkContext<'_>,
) -> StoreResult<IngestReport> {
    match write_chunk(store, feed, items, context).await {
        // A chunk said to be new held a stored item after all (two polls of a new feed overlapped
        // when a lease ran out): the transaction was rolled back, so write it again the long way.
        Err(StoreError::Database(sqlx::Error::Database(e))) if context.all_new && e.is_unique_violation() => {
            tracing::warn!(feed = %feed.id, "a chunk said to be new held stored items; written again with lookups");
            write_chunk(store, feed, items, ChunkContext { all_new: false, ..context }).await
        }
        result => result,
    }
}

async fn write_chunk(
    store: &PgStore,
    feed: &Feed,
    items: &[NormalisedItem],
    context: ChunkContext<'_>,
) -> StoreResult<IngestReport> {
    let mut report = IngestReport::default();
    let mut seen = HashSet::new();
    let chunk: Vec<(ItemId, &NormalisedItem)> = items
        .iter()
        .map(|item| (ItemId::derive(feed.id, &item.source_key), item))
        .filter(|(id, _)| seen.insert(id.clone()))
        .collect();

    // One writer at a time; the lock is taken per chunk, so other feeds' writes interleave with a
    // large import.
    let _w = store.writer.lock().await;
    let mut tx = store.begin_write().await?;
    // The feed as it is now, not as the poll found it: a visibility changed or a deletion made
    // while a long import runs applies to the rest of it. Its row stays locked to the commit, so
    // another replica changing the feed waits for this chunk and then sees its items.
    store.count(1);
    let now_feed: Option<(String, Option<i64>)> =
        sqlx::query_as("SELECT visibility, deleted_at FROM feeds WHERE id = $1 FOR NO KEY UPDATE")
            .bind(feed.id.0)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((visibility, None)) = now_feed else {
        return Err(StoreError::Invalid("the feed was deleted while it was being read".into()));
    };
    let fresh;
    let feed = if visibility == feed.visibility.as_str() {
        feed
    } else {
        fresh = Feed { visibility: visibility.parse().map_err(StoreError::Corrupt)?, ..feed.clone() };
        &fresh
    };
    let existing = if context.all_new {
        HashMap::new()
    } else {
        existing_items(store, &mut tx, chunk.iter().map(|(id, _)| id)).await?
    };
    // Items a person classified keep that classification whatever the source says now.
    let mut manual: HashMap<String, NormalisedItem> = HashMap::new();
    for (id, item) in &chunk {
        if let Some(Existing { manual_category: Some(c), manual_categories: Some(cs), .. }) = existing.get(&id.0) {
            manual.insert(id.0.clone(), with_manual(item, c, cs)?);
        }
    }
    let mut created = Vec::new();
    let mut updated = Vec::new();
    // Live items whose records the source marks deleted.
    let mut deleted = Vec::new();
    for (id, item) in chunk {
        if item.deleted {
            // One never stored, or already withdrawn, has nothing to withdraw.
            if let Some(Existing { rowid, withdrawn: false, .. }) = existing.get(&id.0) {
                deleted.push(*rowid);
            }
            continue;
        }
        // The hash is of what the source and the rules give, so a manual classification does not
        // make an unchanged entry look changed.
        let hash = item.content_hash();
        match existing.get(&id.0) {
            None => created.push(Pending { id, item, hash, version: 1, rowid: 0 }),
            // A withdrawn item published again is live again, as an update.
            Some(e) if e.content_hash != hash || e.withdrawn => {
                let item = manual.get(&id.0).unwrap_or(item);
                updated.push(Pending { id, item, hash, version: e.version + 1, rowid: e.rowid })
            }
            Some(_) => report.unchanged += 1,
        }
    }
    if let Some(progress) = context.progress {
        store.count(1);
        sqlx::query("UPDATE feeds SET resume_hash = $1, resume_items = $2 WHERE id = $3")
            .bind(progress.body_hash)
            .bind(progress.items)
            .bind(feed.id.0)
            .execute(&mut *tx)
            .await?;
    }
    if created.is_empty() && updated.is_empty() && deleted.is_empty() {
        // Nothing readers see changed: the resume point alone is committed, without a new data version.
        if context.progress.is_some() {
            store.commit(tx).await?;
        }
        return Ok(report);
    }
    let now = to_millis(Utc::now());
    insert_items(store, &mut tx, feed, &mut created, now).await?;
    for p in &updated {
        update_item(store, &mut tx, feed, p).await?;
    }
    // Change sequences last: the counter stays locked from here to the commit.
    let mut last = insert_changes(store, &mut tx, &created, &updated, context.backfill, now).await?;
    if !deleted.is_empty() {
        last = withdraw_rows(store, &mut tx, &deleted, now).await?.or(last);
    }
    store.commit_visible(tx).await?;
    report.created = created.len();
    report.updated = updated.len();
    report.withdrawn = deleted.len();
    report.last_sequence = last;
    Ok(report)
}

/// Rows withdrawn per transaction, so a mass withdrawal never holds the writer for long.
const WITHDRAW_CHUNK: usize = 2000;

/// Live items read at a time while looking for those a snapshot no longer holds.
const WITHDRAW_SCAN: usize = 10_000;

/// Withdraws the feed's live items whose source keys are not in `keep`: each gets a new version
/// and a WITHDRAWN change, a chunk of them per transaction. Returns how many were withdrawn and
/// the last change sequence written.
pub(super) async fn withdraw_missing(store: &PgStore, feed: &Feed, keep: &KeySet) -> StoreResult<(usize, Option<i64>)> {
    // Only this feed's poll writes its items, so the list stays true while the chunks commit.
    let mut gone: Vec<i64> = Vec::new();
    let mut after = 0i64;
    loop {
        store.count(1);
        let live: Vec<(i64, String)> = sqlx::query_as(
            "SELECT rowid, source_key FROM items WHERE feed = $1 AND withdrawn_at IS NULL AND rowid > $2 \
             ORDER BY rowid LIMIT $3",
        )
        .bind(feed.id.0)
        .bind(after)
        .bind(WITHDRAW_SCAN as i64)
        .fetch_all(&store.pool)
        .await?;
        let Some((last, _)) = live.last() else { break };
        after = *last;
        gone.extend(live.iter().filter(|(_, key)| !keep.contains(key)).map(|(rowid, _)| *rowid));
        if live.len() < WITHDRAW_SCAN {
            break;
        }
    }
    let mut last = None;
    for chunk in gone.chunks(WITHDRAW_CHUNK) {
        let _w = store.writer.lock().await;
        let mut tx = store.begin_write().await?;
        last = withdraw_rows(store, &mut tx, chunk, to_millis(Utc::now())).await?;
        store.commit_visible(tx).await?;
    }
    Ok((gone.len(), last))
}

pub(super) async fn delete_feed(store: &PgStore, id: FeedId) -> StoreResult<(Feed, usize)> {
    let feed: Feed = {
        let _w = store.writer.lock().await;
        let mut tx = store.begin_write().await?;
        store.count(1);
        let row: Option<rows::FeedRow> = sqlx::query_as(&format!(
            "UPDATE feeds SET deleted_at = $1, lease_until = NULL WHERE id = $2 AND deleted_at IS NULL \
             RETURNING {}",
            super::FEED_COLUMNS
        ))
        .bind(to_millis(Utc::now()))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let feed = row.ok_or(StoreError::NotFound)?.try_into()?;
        store.commit_visible(tx).await?;
        feed
    };
    // Its items go a chunk at a time, so other writers keep their turn.
    let mut withdrawn = 0;
    loop {
        let _w = store.writer.lock().await;
        let mut tx = store.begin_write().await?;
        store.count(1);
        let rowids: Vec<i64> = sqlx::query_scalar(
            "SELECT rowid FROM items WHERE feed = $1 AND withdrawn_at IS NULL ORDER BY rowid LIMIT $2",
        )
        .bind(id.0)
        .bind(WITHDRAW_CHUNK as i64)
        .fetch_all(&mut *tx)
        .await?;
        if rowids.is_empty() {
            break;
        }
        withdraw_rows(store, &mut tx, &rowids, to_millis(Utc::now())).await?;
        store.commit_visible(tx).await?;
        withdrawn += rowids.len();
    }
    Ok((feed, withdrawn))
}

/// Marks the live items among `rowids` withdrawn at `now`, each with a new version and a WITHDRAWN
/// change; returns the last sequence written. Like every writer, it locks items in rowid order
/// and the change counter after them, so two writers never wait for each other in a circle.
async fn withdraw_rows(
    store: &PgStore,
    tx: &mut sqlx::Transaction<'_, Postgres>,
    rowids: &[i64],
    now: i64,
) -> StoreResult<Option<i64>> {
    let mut withdrawn: Vec<i64> = Vec::with_capacity(rowids.len());
    for batch in rowids.chunks(INSERT_BATCH * 4) {
        store.count(1);
        let rows: Vec<i64> = sqlx::query_scalar(
            "UPDATE items SET withdrawn_at = $1, version = version + 1 WHERE rowid IN (SELECT rowid FROM items \
             WHERE rowid = ANY($2) AND withdrawn_at IS NULL ORDER BY rowid FOR NO KEY UPDATE) RETURNING rowid",
        )
        .bind(now)
        .bind(batch)
        .fetch_all(&mut **tx)
        .await?;
        withdrawn.extend(rows);
    }
    if withdrawn.is_empty() {
        return Ok(None);
    }
    withdrawn.sort_unstable();
    let first = store.take_sequences(tx, withdrawn.len()).await?;
    for (n, batch) in withdrawn.chunks(INSERT_BATCH * 4).enumerate() {
        store.count(1);
        sqlx::query(
            "INSERT INTO changes (sequence, item, kind, at, backfill, version) \
             SELECT $1 + row_number() OVER (ORDER BY rowid) - 1, rowid, $2, $3, false, version \
             FROM items WHERE rowid = ANY($4)",
        )
        .bind(first + (n * INSERT_BATCH * 4) as i64)
        .bind(ChangeKind::Withdrawn.as_str())
        .bind(now)
        .bind(batch)
        .execute(&mut **tx)
        .await?;
    }
    Ok(Some(first + withdrawn.len() as i64 - 1))
}

pub(super) async fn record_success(store: &PgStore, feed: FeedId, record: &FetchRecord) -> StoreResult<()> {
    let _w = store.writer.lock().await;
    let mut tx = store.begin_write().await?;
    store.count(2);
    let before: Option<(String, Option<String>, String)> =
        sqlx::query_as("SELECT state, title, warnings FROM feeds WHERE id = $1")
            .bind(feed.0)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((state, title, old_warnings)) = before else { return Err(StoreError::NotFound) };
    let warnings_json = serde_json::to_string(&record.warnings).unwrap_or_else(|_| "[]".into());
    let new_title = record.title.clone().or(title.clone());
    sqlx::query(
        "UPDATE feeds SET state = CASE WHEN state = 'PAUSED' THEN 'PAUSED' ELSE 'ACTIVE' END, last_error = NULL, \
         error_count = 0, lease_until = CASE WHEN lease_owner = $9 THEN NULL ELSE lease_until END, lease_owner = CASE WHEN lease_owner = $9 THEN NULL ELSE lease_owner END, \
         next_check_at = $1, last_success_at = $2, etag = $3, last_modified = $4, \
         body_hash = $5, title = $6, warnings = $7, resume_hash = NULL, resume_items = 0 WHERE id = $8",
    )
    .bind(to_millis(record.next_check_at))
    .bind(to_millis(Utc::now()))
    .bind(&record.etag)
    .bind(&record.last_modified)
    .bind(&record.body_hash)
    .bind(&new_title)
    .bind(&warnings_json)
    .bind(feed.0)
    .bind(&store.owner)
    .execute(&mut *tx)
    .await?;
    // Only what the API shows bumps the data version: a quiet successful poll must not flush caches.
    let visible_change = state == "FAILING" || new_title != title || warnings_json != old_warnings;
    let v = if visible_change { Some(store.bump_version(&mut tx).await?) } else { None };
    store.commit(tx).await?;
    if let Some(v) = v {
        store.remember_version(v);
    }
    Ok(())
}

/// What is stored of an item a chunk holds again.
#[derive(sqlx::FromRow)]
struct Existing {
    id: String,
    rowid: i64,
    content_hash: String,
    version: i64,
    withdrawn: bool,
    /// A person's classification (`classifyItem`), which polls keep.
    manual_category: Option<String>,
    manual_categories: Option<String>,
}

/// The stored state of the items among `ids` that exist, by id. They stay locked to the commit
/// (in rowid order, as every writer locks items), so a correction or a reclassification made
/// meanwhile by another process is either seen here or waits: no version is written twice.
async fn existing_items<'a>(
    store: &PgStore,
    tx: &mut sqlx::Transaction<'_, Postgres>,
    ids: impl Iterator<Item = &'a ItemId>,
) -> StoreResult<HashMap<String, Existing>> {
    let ids: Vec<&str> = ids.map(|i| i.0.as_str()).collect();
    store.count(1);
    let rows: Vec<Existing> = sqlx::query_as(
        "SELECT id, rowid, content_hash, version, withdrawn_at IS NOT NULL AS withdrawn, manual_category, \
         manual_categories FROM items WHERE id = ANY($1) ORDER BY rowid FOR NO KEY UPDATE",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|e| (e.id.clone(), e)).collect())
}

/// `item` with a person's classification in place of its own (the source and the rules still
/// decide everything else).
fn with_manual(item: &NormalisedItem, category: &str, categories: &str) -> StoreResult<NormalisedItem> {
    let category: crate::model::Category = category.parse().map_err(StoreError::Corrupt)?;
    let categories = rows::parse_categories(categories)?;
    let mut item = item.clone();
    item.classification = connectors::model::Classification {
        category,
        categories,
        source: crate::model::ClassificationSource::Manual,
        terms: Vec::new(),
    };
    Ok(item)
}

/// The facet tokens of an item: `c_<category>` for each category, `k_<country>` for each country.
fn facet_tokens(item: &NormalisedItem) -> Vec<String> {
    let categories = item.classification.categories.iter().map(|c| category_token(*c));
    let countries = item.countries.iter().map(|c| country_token(&c.code));
    categories.chain(countries).collect()
}

/// The item's normalised text as indexed: all of it, up to [`MAX_SEARCH_TEXT`].
fn search_text(item: &NormalisedItem) -> &str {
    within_search_limit(&item.search_text)
}

/// `text` cut to [`MAX_SEARCH_TEXT`] bytes, on a character boundary.
pub(in crate::store) fn within_search_limit(text: &str) -> &str {
    if text.len() <= MAX_SEARCH_TEXT {
        return text;
    }
    let mut end = MAX_SEARCH_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

pub(super) fn category_token(category: crate::model::Category) -> String {
    format!("c_{}", category.as_str().to_ascii_lowercase())
}

pub(super) fn country_token(code: &crate::model::CountryCode) -> String {
    format!("k_{}", code.as_str().to_ascii_lowercase())
}

/// Inserts new items under rowids taken from the table's sequence first, so no `RETURNING` has to
/// send every rowid back row by row.
async fn insert_items(
    store: &PgStore,
    tx: &mut sqlx::Transaction<'_, Postgres>,
    feed: &Feed,
    created: &mut [Pending<'_>],
    now: i64,
) -> StoreResult<()> {
    if created.is_empty() {
        return Ok(());
    }
    store.count(1);
    let rowids: Vec<i64> =
        sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('items', 'rowid')) FROM generate_series(1, $1)")
            .bind(created.len() as i64)
            .fetch_all(&mut **tx)
            .await?;
    for (p, rowid) in created.iter_mut().zip(rowids) {
        p.rowid = rowid;
    }
    for batch in created.chunks(INSERT_BATCH) {
        store.count(1);
        let mut qb = QueryBuilder::<Postgres>::new(
            "INSERT INTO items (rowid, id, feed, organisation, visibility, source_key, title, summary, url, language, \
             direction, published_at, updated_at, sort_published, sort_updated, category, categories, \
             classification_source, terms, countries, route, figures, version, content_hash, first_seen_at, url_key, \
             text_key, search, facets, provenance, source_visibility) ",
        );
        qb.push_values(batch.iter(), |mut row, p| {
            let item = p.item;
            let published = item.published_at.map(to_millis);
            let updated = item.updated_at.map(to_millis);
            row.push_bind(p.rowid)
                .push_bind(p.id.0.as_str())
                .push_bind(feed.id.0)
                .push_bind(feed.organisation.0.as_str())
                .push_bind(rows::item_visibility(feed.visibility, item))
                .push_bind(item.source_key.as_str())
                .push_bind(item.title.as_str())
                .push_bind(item.summary.as_str())
                .push_bind(item.url.as_deref())
                .push_bind(item.language.as_deref())
                .push_bind(item.direction)
                .push_bind(published)
                .push_bind(updated)
                .push_bind(published.unwrap_or(now))
                .push_bind(updated.or(published).unwrap_or(now))
                .push_bind(item.classification.category.as_str())
                .push_bind(rows::categories_text(&item.classification.categories))
                .push_bind(item.classification.source.as_str())
                .push_bind(serde_json::to_string(&item.classification.terms).unwrap_or_else(|_| "[]".into()))
                .push_bind(rows::countries_json(&item.countries))
                .push_bind(item.route.as_deref())
                .push_bind(rows::figures_json(&item.figures))
                .push_bind(p.version)
                .push_bind(p.hash.as_str())
                .push_bind(now)
                .push_bind(item.url_key.as_deref())
                .push_bind(item.text_key.as_deref())
                .push("to_tsvector('tributary', ")
                .push_bind_unseparated(search_text(item))
                .push_unseparated(")")
                .push_bind(facet_tokens(item))
                .push_bind(rows::provenance_json(item))
                .push_bind(rows::source_visibility(item));
        });
        qb.build().execute(&mut **tx).await?;
    }
    link_duplicates(store, tx, feed, created).await
}

/// Links each new item that tells a story another feed's item told first to that item, when
/// everyone who may see the new item may see the first one too (it is PUBLIC, or it has the
/// same owner and visibility): otherwise hiding the new one would hide the story from someone.
async fn link_duplicates(
    store: &PgStore,
    tx: &mut sqlx::Transaction<'_, Postgres>,
    feed: &Feed,
    created: &[Pending<'_>],
) -> StoreResult<()> {
    let first_new = created.iter().map(|p| p.rowid).min().unwrap_or(i64::MAX);
    let keys: Vec<(i64, Option<String>, Option<String>, &str)> = created
        .iter()
        .map(|p| {
            let url_key = p.item.url_key.clone();
            (p.rowid, url_key, p.item.text_key.clone(), p.item.title.as_str())
        })
        .filter(|(_, u, t, _)| u.is_some() || t.is_some())
        .collect();
    for batch in keys.chunks(INSERT_BATCH) {
        let wanted: Vec<&str> = batch.iter().flat_map(|(_, u, t, _)| [u.as_deref(), t.as_deref()]).flatten().collect();
        store.count(1);
        // One statement text whatever the batch, each half led by its key's index: a plan made
        // for an `IN` list or an `OR`, once cached, can turn into a scan of every item.
        let firsts: Vec<(i64, Option<String>, Option<String>, String)> = sqlx::query_as(
            "SELECT rowid, url_key, text_key, title FROM items WHERE url_key = ANY($1) AND duplicate_of IS NULL \
             AND withdrawn_at IS NULL AND feed != $2 AND rowid < $3 \
             AND (visibility = 'PUBLIC' OR (organisation = $4 AND visibility = $5)) \
             UNION SELECT rowid, url_key, text_key, title FROM items WHERE text_key = ANY($1) AND duplicate_of IS NULL \
             AND withdrawn_at IS NULL AND feed != $2 AND rowid < $3 \
             AND (visibility = 'PUBLIC' OR (organisation = $4 AND visibility = $5)) ORDER BY rowid",
        )
        .bind(&wanted)
        .bind(feed.id.0)
        .bind(first_new)
        .bind(feed.organisation.0.as_str())
        .bind(feed.visibility.as_str())
        .fetch_all(&mut **tx)
        .await?;

        for (rowid, url_key, text_key, title) in batch {
            let first = firsts.iter().find(|(_, u, t, first_title)| {
                (text_key.is_some() && t == text_key)
                    || (url_key.is_some() && u == url_key && connectors::story::titles_agree(title, first_title))
            });
            if let Some((first, _, _, _)) = first {
                store.count(1);
                sqlx::query("UPDATE items SET duplicate_of = $1 WHERE rowid = $2")
                    .bind(first)
                    .bind(rowid)
                    .execute(&mut **tx)
                    .await?;
            }
        }
    }
    Ok(())
}

async fn update_item(
    store: &PgStore,
    tx: &mut sqlx::Transaction<'_, Postgres>,
    feed: &Feed,
    p: &Pending<'_>,
) -> StoreResult<()> {
    let item = p.item;
    let published = item.published_at.map(to_millis);
    let updated = item.updated_at.map(to_millis);
    store.count(1);
    sqlx::query(
        "UPDATE items SET visibility = $1, title = $2, summary = $3, url = $4, language = $5, direction = $6, published_at = $7, \
         updated_at = $8, sort_published = coalesce($9, first_seen_at), sort_updated = $10, category = $11, \
         categories = $12, classification_source = $13, terms = $14, countries = $15, route = $16, figures = $17, \
         version = $18, content_hash = $19, withdrawn_at = NULL, url_key = $20, text_key = $21, \
         search = to_tsvector('tributary', $22), facets = $23, provenance = $25, source_visibility = $26 WHERE id = $24",
    )
    .bind(rows::item_visibility(feed.visibility, item))
    .bind(&item.title)
    .bind(&item.summary)
    .bind(&item.url)
    .bind(&item.language)
    .bind(item.direction)
    .bind(published)
    .bind(updated)
    .bind(published)
    .bind(updated.or(published).unwrap_or_else(|| to_millis(Utc::now())))
    .bind(item.classification.category.as_str())
    .bind(rows::categories_text(&item.classification.categories))
    .bind(item.classification.source.as_str())
    .bind(serde_json::to_string(&item.classification.terms).unwrap_or_else(|_| "[]".into()))
    .bind(rows::countries_json(&item.countries))
    .bind(&item.route)
    .bind(rows::figures_json(&item.figures))
    .bind(p.version)
    .bind(&p.hash)
    .bind(item.url_key.as_deref())
    .bind(item.text_key.as_deref())
    .bind(search_text(item))
    .bind(facet_tokens(item))
    .bind(&p.id.0)
    .bind(rows::provenance_json(item))
    .bind(rows::source_visibility(item))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Appends change rows, numbered in commit order, and returns the highest sequence written.
async fn insert_changes(
    store: &PgStore,
    tx: &mut sqlx::Transaction<'_, Postgres>,
    created: &[Pending<'_>],
    updated: &[Pending<'_>],
    backfill: bool,
    now: i64,
) -> StoreResult<Option<i64>> {
    let changes: Vec<(&Pending, ChangeKind)> = created
        .iter()
        .map(|p| (p, ChangeKind::Created))
        .chain(updated.iter().map(|p| (p, ChangeKind::Updated)))
        .collect();
    if changes.is_empty() {
        return Ok(None);
    }
    let first = store.take_sequences(tx, changes.len()).await?;
    for (n, batch) in changes.chunks(INSERT_BATCH * 2).enumerate() {
        store.count(1);
        let base = first + (n * INSERT_BATCH * 2) as i64;
        let mut qb =
            QueryBuilder::<Postgres>::new("INSERT INTO changes (sequence, item, kind, at, backfill, version) ");
        qb.push_values(batch.iter().zip(base..), |mut row, ((p, kind), sequence)| {
            row.push_bind(sequence)
                .push_bind(p.rowid)
                .push_bind(kind.as_str())
                .push_bind(now)
                .push_bind(backfill)
                .push_bind(p.version);
        });
        qb.build().execute(&mut **tx).await?;
    }
    Ok(Some(first + changes.len() as i64 - 1))
}

/// Totals of one measure, grouped in SQL over the figures stored with each item.
pub(super) async fn figure_totals(
    store: &PgStore,
    scope: &Scope,
    filter: &ItemFilter,
    measure: &str,
    breakdown: &[String],
    group_by: &[FigureGroup],
) -> StoreResult<Vec<FigureBucket>> {
    let column = |group: FigureGroup| match group {
        FigureGroup::Country => "(i.countries::jsonb -> 0 ->> 'code')",
        FigureGroup::Month => "to_char(to_timestamp(i.sort_published / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM')",
        FigureGroup::Route => "i.route",
        FigureGroup::Category => "i.category",
    };
    let mut select = String::from("SELECT f.value ->> 'unit' AS unit");
    for g in FigureGroup::ALL {
        let expr = if group_by.contains(g) { column(*g) } else { "NULL::text" };
        select.push_str(&format!(", {expr}"));
    }
    select.push_str(
        ", sum((f.value ->> 'value')::float8), count(DISTINCT i.rowid) \
         FROM items i, jsonb_array_elements(i.figures::jsonb) f \
         WHERE i.withdrawn_at IS NULL AND f.value ->> 'measure' = ",
    );
    store.count(1);
    let mut qb = QueryBuilder::<Postgres>::new(select);
    qb.push_bind(measure.to_string());
    // Exactly the requested sex and age breakdown: so many breakdown attributes, each requested one.
    let listed: Vec<String> = crate::store::BREAKDOWN_ATTRIBUTES.iter().map(|a| format!("'{a}'")).collect();
    qb.push(format!(
        " AND (SELECT count(*) FROM jsonb_array_elements_text(f.value -> 'disaggregation') d \
         WHERE d IN ({}) OR d LIKE 'age%') = ",
        listed.join(", ")
    ));
    let mut wanted: Vec<&String> = breakdown.iter().filter(|a| crate::store::is_breakdown(a)).collect();
    wanted.sort();
    wanted.dedup();
    qb.push_bind(wanted.len() as i64);
    for attribute in wanted {
        qb.push(" AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(f.value -> 'disaggregation') d WHERE d = ");
        qb.push_bind(attribute.clone()).push(")");
    }
    push_item_filter(&mut qb, scope, filter, true);
    qb.push(" GROUP BY 1, 2, 3, 4, 5 ORDER BY 6 DESC, 2, 3, 4, 5, 1");
    type Row = (Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, f64, i64);
    let rows: Vec<Row> = qb.build_query_as().fetch_all(&store.pool).await?;
    rows.into_iter()
        .map(|(unit, country, month, route, category, total, items)| {
            Ok(FigureBucket {
                country: country.map(|c| CountryCode::parse(&c).map_err(StoreError::Corrupt)).transpose()?,
                month,
                route,
                category: category.map(|c| c.parse().map_err(|_| StoreError::Corrupt(c))).transpose()?,
                unit,
                total,
                items,
            })
        })
        .collect()
}

/// Appends the scope and filter conditions on items aliased `i`.
pub(super) fn push_item_filter(
    qb: &mut QueryBuilder<'_, Postgres>,
    scope: &Scope,
    filter: &ItemFilter,
    with_search: bool,
) {
    push_filter(qb, scope, filter, with_search, true)
}

/// The facet token a page can be read by in order from `item_facets`: one country, one
/// category, or one of each, in publication order, without a search.
fn driving_facet(filter: &ItemFilter, order: ItemOrder) -> Option<String> {
    if filter.search.is_some() || !matches!(order, ItemOrder::PublishedDesc | ItemOrder::PublishedAsc) {
        return None;
    }
    match (filter.countries.as_slice(), filter.categories.as_slice()) {
        ([k], []) => Some(country_token(k)),
        ([], [c]) => Some(category_token(*c)),
        ([k], [c]) => Some(format!("{}.{}", country_token(k), category_token(*c))),
        _ => None,
    }
}

/// As [`push_item_filter`], leaving out the country and category conditions when `facets` is
/// false (a page driven by `item_facets` has them in its facet).
fn push_filter(
    qb: &mut QueryBuilder<'_, Postgres>,
    scope: &Scope,
    filter: &ItemFilter,
    with_search: bool,
    facets: bool,
) {
    push_scope(qb, scope, "i");
    if let Some(first) = &filter.duplicates_of {
        qb.push(" AND i.duplicate_of = (SELECT rowid FROM items WHERE id = ").push_bind(first.0.clone()).push(")");
    } else if !filter.include_duplicates {
        qb.push(format!(" AND NOT {HIDDEN_DUPLICATE}"));
    }
    if !filter.networks.is_empty() {
        qb.push(" AND i.organisation IN (SELECT organisation FROM memberships WHERE 1 = 1");
        push_in(qb, "network", filter.networks.iter().cloned());
        qb.push(")");
    }
    push_in(qb, "i.organisation", filter.organisations.iter().map(|o| o.0.clone()));
    push_in(qb, "i.organisation", filter.societies.iter().map(|c| c.to_string()));
    let facet_groups = [
        filter.countries.iter().map(country_token).collect::<Vec<_>>(),
        filter.categories.iter().map(|c| category_token(*c)).collect::<Vec<_>>(),
    ];
    for tokens in facet_groups.into_iter().filter(|t| facets && !t.is_empty()) {
        qb.push(" AND i.facets && ").push_bind(tokens);
    }
    if !filter.languages.is_empty() {
        qb.push(" AND (");
        for (n, lang) in filter.languages.iter().enumerate() {
            if n > 0 {
                qb.push(" OR ");
            }
            qb.push("i.language = ").push_bind(lang.clone());
            qb.push(" OR i.language ILIKE ").push_bind(format!("{}-%", lang.replace(['%', '_'], "")));
        }
        qb.push(")");
    }
    push_in(qb, "i.feed", filter.feeds.iter().map(|f| f.0));
    if let Some(since) = filter.published_since {
        qb.push(" AND i.sort_published >= ").push_bind(to_millis(since));
    }
    if let Some(before) = filter.published_before {
        qb.push(" AND i.sort_published < ").push_bind(to_millis(before));
    }
    if with_search {
        if let Some(search) = &filter.search {
            qb.push(" AND i.search @@ to_tsquery('tributary', ").push_bind(search.to_tsquery()).push(")");
        }
    }
}

/// A page cursor: keyset for time orders, offset for relevance. Each names its order, so a cursor
/// from another ordering is refused rather than misread. Ties in time are broken by rowid, which
/// every index ends with, so the ordering indexes need no other column.
enum Cursor {
    Keyset { sort: i64, rowid: i64 },
    Offset(i64),
}

fn order_tag(order: ItemOrder) -> &'static str {
    match order {
        ItemOrder::PublishedDesc => "pd",
        ItemOrder::PublishedAsc => "pa",
        ItemOrder::UpdatedDesc => "ud",
        ItemOrder::Relevance => "r",
    }
}

fn parse_cursor(text: &str, order: ItemOrder) -> StoreResult<Cursor> {
    let invalid = || StoreError::Invalid("invalid cursor for this ordering".into());
    let mut parts = text.splitn(3, ':');
    if parts.next() != Some(order_tag(order)) {
        return Err(invalid());
    }
    match order {
        ItemOrder::Relevance => Ok(Cursor::Offset(parts.next().and_then(|o| o.parse().ok()).ok_or_else(invalid)?)),
        _ => {
            let sort = parts.next().and_then(|s| s.parse().ok()).ok_or_else(invalid)?;
            let rowid = parts.next().and_then(|r| r.parse().ok()).ok_or_else(invalid)?;
            Ok(Cursor::Keyset { sort, rowid })
        }
    }
}

/// Matches of a search read first when there are at most this many.
const FEW_MATCHES: usize = 1000;

/// The rowids of every item `search` matches, when it needs several terms at once and they are
/// few. The planner estimates such a search as if its terms were independent; when they rarely
/// meet ("Spain charter"), it scans the time index for matches that never come (0.9 s on a
/// million items). Read from the text index first, the few matches make a page of their own; when
/// there are many, scanning the time index finds a page's worth soon. One term (a word, a phrase,
/// alternatives) is estimated from the index's own statistics and needs no probe.
async fn search_matches(store: &PgStore, search: &crate::store::SearchQuery) -> StoreResult<Option<Vec<i64>>> {
    if search.required.len() < 2 {
        return Ok(None);
    }
    store.count(1);
    let rowids: Vec<i64> =
        sqlx::query_scalar("SELECT rowid FROM items WHERE search @@ to_tsquery('tributary', $1) LIMIT $2")
            .bind(search.to_tsquery())
            .bind(FEW_MATCHES as i64 + 1)
            .fetch_all(&store.pool)
            .await?;
    Ok((rowids.len() <= FEW_MATCHES).then_some(rowids))
}

pub(super) async fn page(
    store: &PgStore,
    scope: &Scope,
    filter: &ItemFilter,
    order: ItemOrder,
    page: &PageRequest,
    count_all: bool,
) -> StoreResult<Page<Item>> {
    let order = match (order, &filter.search) {
        (ItemOrder::Relevance, None) => ItemOrder::PublishedDesc,
        (order, _) => order,
    };
    let cursor = page.after.as_deref().map(|c| parse_cursor(c, order)).transpose()?;
    let facet = driving_facet(filter, order);
    let matches = match &filter.search {
        Some(search) => search_matches(store, search).await?,
        None => None,
    };
    // Listings show live items; `item`, `node` and the change log still reach withdrawn ones.
    let from = |qb: &mut QueryBuilder<'_, Postgres>| match (&facet, &matches) {
        (Some(facet), _) => {
            qb.push(" FROM item_facets f JOIN items i ON i.rowid = f.item WHERE f.facet = ").push_bind(facet.clone());
            qb.push(" AND i.withdrawn_at IS NULL");
            push_filter(qb, scope, filter, true, false);
        }
        (None, Some(rowids)) => {
            qb.push(" FROM items i WHERE i.rowid = ANY(")
                .push_bind(rowids.clone())
                .push(") AND i.withdrawn_at IS NULL");
            push_item_filter(qb, scope, filter, false);
        }
        (None, None) => {
            qb.push(" FROM items i WHERE i.withdrawn_at IS NULL");
            push_item_filter(qb, scope, filter, true);
        }
    };
    let total_count: i64 = if count_all {
        store.count(1);
        let mut count = QueryBuilder::<Postgres>::new("SELECT count(*)");
        from(&mut count);
        count.build_query_scalar().fetch_one(&store.pool).await?
    } else {
        0
    };
    store.count(1);

    let limit = page.first as i64 + 1;
    let mut qb;
    let mut offset = 0;
    if order == ItemOrder::Relevance {
        let query = filter.search.as_ref().map(|s| s.to_tsquery()).unwrap_or_default();
        qb = QueryBuilder::<Postgres>::new(format!("SELECT {ITEM_COLUMNS}"));
        from(&mut qb);
        if let Some(Cursor::Offset(o)) = cursor {
            offset = o.max(0);
        }
        qb.push(" ORDER BY ts_rank(i.search, to_tsquery('tributary', ").push_bind(query);
        qb.push(")) DESC, i.rowid LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
    } else {
        let (column, cmp, dir) = match order {
            ItemOrder::PublishedAsc => ("sort_published", ">", "ASC"),
            ItemOrder::UpdatedDesc => ("sort_updated", "<", "DESC"),
            _ => ("sort_published", "<", "DESC"),
        };
        // Ordered by the facet rows' copy of the time when they drive the page.
        let (column, key) = match facet {
            Some(_) => (format!("f.{column}"), "f.item"),
            None => (format!("i.{column}"), "i.rowid"),
        };
        qb = QueryBuilder::<Postgres>::new(format!("SELECT {ITEM_COLUMNS}"));
        from(&mut qb);
        if let Some(Cursor::Keyset { sort, rowid }) = cursor {
            qb.push(format!(" AND ({column} {cmp} ")).push_bind(sort);
            qb.push(format!(" OR ({column} = ")).push_bind(sort);
            qb.push(format!(" AND {key} {cmp} ")).push_bind(rowid).push("))");
        }
        qb.push(format!(" ORDER BY {column} {dir}, {key} {dir} LIMIT ")).push_bind(limit);
    }
    let rows: Vec<ItemRow> = qb.build_query_as().fetch_all(&store.pool).await?;
    let has_next_page = rows.len() > page.first;
    let tag = order_tag(order);
    let mut edges = Vec::with_capacity(page.first);
    for (n, row) in rows.into_iter().take(page.first).enumerate() {
        let cursor = match order {
            ItemOrder::Relevance => format!("{tag}:{}", offset + n as i64 + 1),
            _ => {
                let (sort, rowid) = row.sort_key(order == ItemOrder::UpdatedDesc);
                format!("{tag}:{sort}:{rowid}")
            }
        };
        edges.push((cursor, Item::try_from(row)?));
    }
    Ok(Page { edges, has_next_page, total_count })
}

pub(super) async fn by_ids(store: &PgStore, scope: &Scope, ids: &[ItemId]) -> StoreResult<Vec<Item>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(ids.len());
    for batch in ids.chunks(INSERT_BATCH * 4) {
        store.count(1);
        let mut qb = QueryBuilder::<Postgres>::new(format!("SELECT {ITEM_COLUMNS} FROM items i WHERE 1 = 1"));
        push_scope(&mut qb, scope, "i");
        push_in(&mut qb, "i.id", batch.iter().map(|i| i.0.as_str()));
        let rows: Vec<ItemRow> = qb.build_query_as().fetch_all(&store.pool).await?;
        for row in rows {
            out.push(Item::try_from(row)?);
        }
    }
    Ok(out)
}
