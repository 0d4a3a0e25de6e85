//! Items and the change log on SQLite: idempotent chunked ingestion, filtered keyset pages, and the
//! change log read in sequence (= commit) order.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use connectors::{KeySet, NormalisedItem};
use sqlx::{QueryBuilder, Sqlite};

use super::rows::{self, to_millis, ItemRow};
use super::{push_in, push_scope, SqliteStore};
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

/// Rows per INSERT into the full-text index: a whole chunk where the parameter limit allows. A
/// statement of several rows opens a savepoint, and FTS5 writes its pending terms out as a new
/// segment at every savepoint; with 400 rows a statement, a 2,000-item chunk made five segments,
/// and every third chunk spent 30–70 ms merging them. One statement makes one segment a chunk.
const FTS_BATCH: usize = 10_000;

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
    store: &SqliteStore,
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
    store: &SqliteStore,
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
    // while a long import runs applies to the rest of it.
    store.count(1);
    let now_feed: Option<(String, Option<i64>)> =
        sqlx::query_as("SELECT visibility, deleted_at FROM feeds WHERE id = ?")
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
        sqlx::query("UPDATE feeds SET resume_hash = ?, resume_items = ? WHERE id = ?")
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
    for batch in updated.chunks(INSERT_BATCH * 4) {
        store.count(1);
        let mut qb = QueryBuilder::<Sqlite>::new("DELETE FROM items_fts WHERE 1 = 1");
        push_in(&mut qb, "rowid", batch.iter().map(|p| p.rowid));
        qb.build().execute(&mut *tx).await?;
    }
    let written: Vec<&Pending> = created.iter().chain(&updated).collect();
    insert_search_text(store, &mut tx, &written).await?;
    let mut last = insert_changes(store, &mut tx, &created, &updated, context.backfill, now).await?;
    if !deleted.is_empty() {
        withdraw_rows(store, &mut tx, &deleted, now).await?;
        store.count(1);
        last = sqlx::query_scalar("SELECT max(sequence) FROM changes").fetch_one(&mut *tx).await?;
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
pub(super) async fn withdraw_missing(
    store: &SqliteStore,
    feed: &Feed,
    keep: &KeySet,
) -> StoreResult<(usize, Option<i64>)> {
    // Only this feed's poll writes its items, so the list stays true while the chunks commit.
    let mut gone: Vec<i64> = Vec::new();
    let mut after = 0i64;
    loop {
        store.count(1);
        let live: Vec<(i64, String)> = sqlx::query_as(
            "SELECT rowid, source_key FROM items WHERE feed = ? AND withdrawn_at IS NULL AND rowid > ? \
             ORDER BY rowid LIMIT ?",
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
        withdraw_rows(store, &mut tx, chunk, to_millis(Utc::now())).await?;
        store.count(1);
        last = sqlx::query_scalar("SELECT max(sequence) FROM changes").fetch_one(&mut *tx).await?;
        store.commit_visible(tx).await?;
    }
    Ok((gone.len(), last))
}

pub(super) async fn delete_feed(store: &SqliteStore, id: FeedId) -> StoreResult<(Feed, usize)> {
    let feed: Feed = {
        let _w = store.writer.lock().await;
        let mut tx = store.begin_write().await?;
        store.count(1);
        let row: Option<rows::FeedRow> = sqlx::query_as(&format!(
            "UPDATE feeds SET deleted_at = ?, lease_until = NULL WHERE id = ? AND deleted_at IS NULL \
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
            "SELECT rowid FROM items WHERE feed = ? AND withdrawn_at IS NULL ORDER BY rowid LIMIT ?",
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

/// Marks the items at `rowids` withdrawn at `now`, each with a new version and a WITHDRAWN change.
async fn withdraw_rows(
    store: &SqliteStore,
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    rowids: &[i64],
    now: i64,
) -> StoreResult<()> {
    for batch in rowids.chunks(INSERT_BATCH * 4) {
        store.count(2);
        let mut qb = QueryBuilder::<Sqlite>::new("UPDATE items SET withdrawn_at = ");
        qb.push_bind(now).push(", version = version + 1 WHERE 1 = 1");
        push_in(&mut qb, "rowid", batch.iter().copied());
        qb.build().execute(&mut **tx).await?;
        let mut qb =
            QueryBuilder::<Sqlite>::new("INSERT INTO changes (item, kind, at, backfill, version) SELECT rowid, ");
        qb.push_bind(ChangeKind::Withdrawn.as_str())
            .push(", ")
            .push_bind(now)
            .push(", 0, version FROM items WHERE 1 = 1");
        push_in(&mut qb, "rowid", batch.iter().copied());
        qb.push(" ORDER BY rowid");
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

pub(super) async fn record_success(store: &SqliteStore, feed: FeedId, record: &FetchRecord) -> StoreResult<()> {
    let _w = store.writer.lock().await;
    let mut tx = store.begin_write().await?;
    store.count(2);
    let before: Option<(String, Option<String>, String)> =
        sqlx::query_as("SELECT state, title, warnings FROM feeds WHERE id = ?")
            .bind(feed.0)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((state, title, old_warnings)) = before else { return Err(StoreError::NotFound) };
    let warnings_json = serde_json::to_string(&record.warnings).unwrap_or_else(|_| "[]".into());
    let new_title = record.title.clone().or(title.clone());
    sqlx::query(
        "UPDATE feeds SET state = CASE WHEN state = 'PAUSED' THEN 'PAUSED' ELSE 'ACTIVE' END, last_error = NULL, \
         error_count = 0, lease_until = CASE WHEN lease_owner = ? THEN NULL ELSE lease_until END, lease_owner = CASE WHEN lease_owner = ? THEN NULL ELSE lease_owner END, \
         next_check_at = ?, last_success_at = ?, etag = ?, last_modified = ?, \
         body_hash = ?, title = ?, warnings = ?, resume_hash = NULL, resume_items = 0 WHERE id = ?",
    )
    .bind(&store.owner)
    .bind(&store.owner)
    .bind(to_millis(record.next_check_at))
    .bind(to_millis(Utc::now()))
    .bind(&record.etag)
    .bind(&record.last_modified)
    .bind(&record.body_hash)
    .bind(&new_title)
    .bind(&warnings_json)
    .bind(feed.0)
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

/// The stored state of the items among `ids` that exist, by id.
async fn existing_items<'a>(
    store: &SqliteStore,
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    ids: impl Iterator<Item = &'a ItemId>,
) -> StoreResult<HashMap<String, Existing>> {
    let ids: Vec<&str> = ids.map(|i| i.0.as_str()).collect();
    let mut out = HashMap::with_capacity(ids.len());
    for batch in ids.chunks(INSERT_BATCH * 4) {
        store.count(1);
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT id, rowid, content_hash, version, withdrawn_at IS NOT NULL AS withdrawn, manual_category, \
             manual_categories FROM items WHERE 1 = 1",
        );
        push_in(&mut qb, "id", batch.iter().copied());
        let rows: Vec<Existing> = qb.build_query_as().fetch_all(&mut **tx).await?;
        out.extend(rows.into_iter().map(|e| (e.id.clone(), e)));
    }
    Ok(out)
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
fn facet_tokens(item: &NormalisedItem) -> String {
    let categories = item.classification.categories.iter().map(|c| category_token(*c));
    let countries = item.countries.iter().map(|c| country_token(&c.code));
    categories.chain(countries).collect::<Vec<_>>().join(" ")
}

pub(super) fn category_token(category: crate::model::Category) -> String {
    format!("c_{}", category.as_str().to_ascii_lowercase())
}

pub(super) fn country_token(code: &crate::model::CountryCode) -> String {
    format!("k_{}", code.as_str().to_ascii_lowercase())
}

/// Indexes the normalised title and summary and the facets of `written` under their rowids.
async fn insert_search_text(
    store: &SqliteStore,
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    written: &[&Pending<'_>],
) -> StoreResult<()> {
    for batch in written.chunks(FTS_BATCH) {
        store.count(1);
        let mut qb = QueryBuilder::<Sqlite>::new("INSERT INTO items_fts (rowid, search_text, facets) ");
        qb.push_values(batch, |mut row, p| {
            row.push_bind(p.rowid).push_bind(p.item.search_text.as_str()).push_bind(facet_tokens(p.item));
        });
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Inserts new items under rowids assigned here, after the highest in use: the write lock is held,
/// so no other writer can take them, and no `RETURNING` has to send every rowid back row by row.
/// Items are never deleted (a withdrawn item keeps its row), so a rowid the change log refers to
/// is never handed out again.
async fn insert_items(
    store: &SqliteStore,
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    feed: &Feed,
    created: &mut [Pending<'_>],
    now: i64,
) -> StoreResult<()> {
    if created.is_empty() {
        return Ok(());
    }
    store.count(1);
    let highest: i64 = sqlx::query_scalar("SELECT coalesce(max(rowid), 0) FROM items").fetch_one(&mut **tx).await?;
    for (p, rowid) in created.iter_mut().zip(highest + 1..) {
        p.rowid = rowid;
    }
    for batch in created.chunks(INSERT_BATCH) {
        store.count(1);
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO items (rowid, id, feed, organisation, visibility, source_key, title, summary, url, language, \
             direction, published_at, updated_at, sort_published, sort_updated, category, categories, \
             classification_source, terms, countries, route, figures, version, content_hash, first_seen_at, url_key, \
             text_key, provenance, source_visibility) ",
        );
        qb.push_values(batch.iter(), |mut row, p| {
            let item = p.item;
            let published = item.published_at.map(to_millis);
            let updated = item.updated_at.map(to_millis);
            // Text is bound by reference: SQLite copies it once, the builder need not.
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
    store: &SqliteStore,
    tx: &mut sqlx::Transaction<'_, Sqlite>,
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
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT rowid, url_key, text_key, title FROM items WHERE duplicate_of IS NULL AND withdrawn_at IS NULL \
             AND feed != ",
        );
        qb.push_bind(feed.id.0).push(" AND rowid < ").push_bind(first_new);
        qb.push(" AND (visibility = 'PUBLIC' OR (organisation = ")
            .push_bind(feed.organisation.0.as_str())
            .push(" AND visibility = ")
            .push_bind(feed.visibility.as_str())
            .push("))");
        qb.push(" AND (url_key IN (");
        let mut list = qb.separated(", ");
        for k in &wanted {
            list.push_bind(*k);
        }
        qb.push(") OR text_key IN (");
        let mut list = qb.separated(", ");
        for k in &wanted {
            list.push_bind(*k);
        }
        qb.push(")) ORDER BY rowid");
        let firsts: Vec<(i64, Option<String>, Option<String>, String)> =
            qb.build_query_as().fetch_all(&mut **tx).await?;
        for (rowid, url_key, text_key, title) in batch {
            let first = firsts.iter().find(|(_, u, t, first_title)| {
                (text_key.is_some() && t == text_key)
                    || (url_key.is_some() && u == url_key && connectors::story::titles_agree(title, first_title))
            });
            if let Some((first, _, _, _)) = first {
                store.count(1);
                sqlx::query("UPDATE items SET duplicate_of = ? WHERE rowid = ?")
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
    store: &SqliteStore,
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    feed: &Feed,
    p: &Pending<'_>,
) -> StoreResult<()> {
    let item = p.item;
    let published = item.published_at.map(to_millis);
    let updated = item.updated_at.map(to_millis);
    store.count(1);
    sqlx::query(
        "UPDATE items SET visibility = ?, title = ?, summary = ?, url = ?, language = ?, direction = ?, published_at = ?, \
         updated_at = ?, sort_published = coalesce(?, first_seen_at), sort_updated = ?, category = ?, \
         categories = ?, classification_source = ?, terms = ?, countries = ?, route = ?, figures = ?, \
         version = ?, content_hash = ?, withdrawn_at = NULL, url_key = ?, text_key = ?, provenance = ?, \
         source_visibility = ? WHERE id = ?",
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
    .bind(rows::provenance_json(item))
    .bind(rows::source_visibility(item))
    .bind(&p.id.0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Appends change rows and returns the highest sequence written.
async fn insert_changes(
    store: &SqliteStore,
    tx: &mut sqlx::Transaction<'_, Sqlite>,
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
    for batch in changes.chunks(INSERT_BATCH * 2) {
        store.count(1);
        let mut qb = QueryBuilder::<Sqlite>::new("INSERT INTO changes (item, kind, at, backfill, version) ");
        qb.push_values(batch, |mut row, (p, kind)| {
            row.push_bind(p.rowid).push_bind(kind.as_str()).push_bind(now).push_bind(backfill).push_bind(p.version);
        });
        qb.build().execute(&mut **tx).await?;
    }
    // The writer holds the lock, so the highest sequence is the last one written here.
    store.count(1);
    Ok(sqlx::query_scalar("SELECT max(sequence) FROM changes").fetch_one(&mut **tx).await?)
}

/// Totals of one measure, grouped in SQL over the figures stored with each item.
pub(super) async fn figure_totals(
    store: &SqliteStore,
    scope: &Scope,
    filter: &ItemFilter,
    measure: &str,
    breakdown: &[String],
    group_by: &[FigureGroup],
) -> StoreResult<Vec<FigureBucket>> {
    let column = |group: FigureGroup| match group {
        FigureGroup::Country => "json_extract(i.countries, '$[0].code')",
        FigureGroup::Month => "strftime('%Y-%m', i.sort_published / 1000, 'unixepoch')",
        FigureGroup::Route => "i.route",
        FigureGroup::Category => "i.category",
    };
    let mut select = String::from("SELECT json_extract(f.value, '$.unit') AS unit");
    for g in FigureGroup::ALL {
        let expr = if group_by.contains(g) { column(*g) } else { "NULL" };
        select.push_str(&format!(", {expr}"));
    }
    select.push_str(
        ", sum(json_extract(f.value, '$.value')), count(DISTINCT i.rowid) FROM items i, json_each(i.figures) f \
         WHERE i.withdrawn_at IS NULL AND json_extract(f.value, '$.measure') = ",
    );
    store.count(1);
    let mut qb = QueryBuilder::<Sqlite>::new(select);
    qb.push_bind(measure.to_string());
    // Exactly the requested sex and age breakdown: so many breakdown attributes, each requested one.
    let listed: Vec<String> = crate::store::BREAKDOWN_ATTRIBUTES.iter().map(|a| format!("'{a}'")).collect();
    qb.push(format!(
        " AND (SELECT count(*) FROM json_each(f.value, '$.disaggregation') d \
         WHERE d.value IN ({}) OR d.value LIKE 'age%') = ",
        listed.join(", ")
    ));
    let mut wanted: Vec<&String> = breakdown.iter().filter(|a| crate::store::is_breakdown(a)).collect();
    wanted.sort();
    wanted.dedup();
    qb.push_bind(wanted.len() as i64);
    for attribute in wanted {
        qb.push(" AND EXISTS (SELECT 1 FROM json_each(f.value, '$.disaggregation') d WHERE d.value = ");
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
    qb: &mut QueryBuilder<'_, Sqlite>,
    scope: &Scope,
    filter: &ItemFilter,
    with_search: bool,
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
    for tokens in facet_groups.into_iter().filter(|t| !t.is_empty()) {
        qb.push(" AND i.rowid IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ")
            .push_bind(format!("facets : ({})", tokens.join(" OR ")))
            .push(")");
    }
    if !filter.languages.is_empty() {
        qb.push(" AND (");
        for (n, lang) in filter.languages.iter().enumerate() {
            if n > 0 {
                qb.push(" OR ");
            }
            qb.push("i.language = ").push_bind(lang.clone());
            qb.push(" OR i.language LIKE ").push_bind(format!("{}-%", lang.replace(['%', '_'], "")));
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
            qb.push(" AND i.rowid IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ")
                .push_bind(text_query(search))
                .push(")");
        }
    }
}

/// A search over the text column only (facet tokens are never matched by what users type).
fn text_query(search: &crate::store::SearchQuery) -> String {
    format!("search_text : ({})", search.to_fts5())
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

pub(super) async fn page(
    store: &SqliteStore,
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

    // Listings show live items; `item`, `node` and the change log still reach withdrawn ones.
    let total_count: i64 = if count_all {
        store.count(1);
        let mut count = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM items i WHERE i.withdrawn_at IS NULL");
        push_item_filter(&mut count, scope, filter, true);
        count.build_query_scalar().fetch_one(&store.pool).await?
    } else {
        0
    };
    store.count(1);

    let limit = page.first as i64 + 1;
    let mut qb;
    let mut offset = 0;
    if order == ItemOrder::Relevance {
        qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {ITEM_COLUMNS} FROM items_fts JOIN items i ON i.rowid = items_fts.rowid \
             WHERE i.withdrawn_at IS NULL AND items_fts MATCH "
        ));
        qb.push_bind(filter.search.as_ref().map(text_query).unwrap_or_default());
        push_item_filter(&mut qb, scope, filter, false);
        if let Some(Cursor::Offset(o)) = cursor {
            offset = o.max(0);
        }
        // Facet tokens weigh nothing in the rank.
        qb.push(" ORDER BY bm25(items_fts, 1.0, 0.0), i.rowid LIMIT ")
            .push_bind(limit)
            .push(" OFFSET ")
            .push_bind(offset);
    } else {
        let (column, cmp, dir) = match order {
            ItemOrder::PublishedAsc => ("i.sort_published", ">", "ASC"),
            ItemOrder::UpdatedDesc => ("i.sort_updated", "<", "DESC"),
            _ => ("i.sort_published", "<", "DESC"),
        };
        qb = QueryBuilder::<Sqlite>::new(format!("SELECT {ITEM_COLUMNS} FROM items i WHERE i.withdrawn_at IS NULL"));
        push_item_filter(&mut qb, scope, filter, true);
        if let Some(Cursor::Keyset { sort, rowid }) = cursor {
            qb.push(format!(" AND ({column} {cmp} ")).push_bind(sort);
            qb.push(format!(" OR ({column} = ")).push_bind(sort);
            qb.push(format!(" AND i.rowid {cmp} ")).push_bind(rowid).push("))");
        }
        qb.push(format!(" ORDER BY {column} {dir}, i.rowid {dir} LIMIT ")).push_bind(limit);
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

pub(super) async fn by_ids(store: &SqliteStore, scope: &Scope, ids: &[ItemId]) -> StoreResult<Vec<Item>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(ids.len());
    for batch in ids.chunks(INSERT_BATCH * 4) {
        store.count(1);
        let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {ITEM_COLUMNS} FROM items i WHERE 1 = 1"));
        push_scope(&mut qb, scope, "i");
        push_in(&mut qb, "i.id", batch.iter().map(|i| i.0.as_str()));
        let rows: Vec<ItemRow> = qb.build_query_as().fetch_all(&store.pool).await?;
        for row in rows {
            out.push(Item::try_from(row)?);
        }
    }
    Ok(out)
}
