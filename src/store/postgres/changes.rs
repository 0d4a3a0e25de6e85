//! The change log: pages for the `changes` query, the committed stretch the change fan-out reads,
//! and pruning after the configured horizon.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};

use super::items::push_item_filter;
use super::rows::{to_millis, ChangeRow};
use super::{push_in, PgStore};
use crate::access::Scope;
use crate::model::Change;
use crate::store::{ChangeFilter, ChangeLogPage, ItemFilter, Page, PageRequest, StoreError, StoreResult};

/// Changes deleted per transaction when pruning, so writers wait only briefly.
const PRUNE_CHUNK: i64 = 5000;

const CHANGE_COLUMNS: &str = "c.sequence, i.id AS item, c.kind, c.at, c.backfill, c.version";

fn push_change_filter(qb: &mut QueryBuilder<'_, Postgres>, scope: &Scope, filter: &ChangeFilter) {
    let items = ItemFilter {
        networks: filter.networks.clone(),
        societies: filter.societies.clone(),
        countries: filter.countries.clone(),
        categories: filter.categories.clone(),
        languages: filter.languages.clone(),
        include_duplicates: filter.include_duplicates,
        ..ItemFilter::default()
    };
    push_item_filter(qb, scope, &items, false);
    push_in(qb, "c.kind", filter.kinds.iter().map(|k| k.as_str()));
    if !filter.include_backfill {
        qb.push(" AND NOT c.backfill");
    }
    if let Some(since) = filter.since {
        qb.push(" AND c.at >= ").push_bind(to_millis(since));
    }
}

pub(super) async fn latest_changes(
    store: &PgStore,
    scope: &Scope,
    filter: &ChangeFilter,
    before: Option<i64>,
    limit: usize,
) -> StoreResult<Vec<Change>> {
    store.count(1);
    let mut qb = QueryBuilder::<Postgres>::new(format!(
        "SELECT {CHANGE_COLUMNS} FROM changes c JOIN items i ON i.rowid = c.item WHERE c.sequence < "
    ));
    qb.push_bind(before.unwrap_or(i64::MAX));
    push_change_filter(&mut qb, scope, filter);
    qb.push(" ORDER BY c.sequence DESC LIMIT ").push_bind(limit as i64);
    let rows: Vec<ChangeRow> = qb.build_query_as().fetch_all(&store.pool).await?;
    rows.into_iter().map(Change::try_from).collect()
}

pub(super) async fn changes(
    store: &PgStore,
    scope: &Scope,
    filter: &ChangeFilter,
    page: &PageRequest,
) -> StoreResult<Page<Change>> {
    changes_counted(store, scope, filter, page, true).await
}

/// As [`changes`], without counting every matching change (`total_count` is 0): what the
/// change fan-out, webhooks and digests read page after page.
pub(super) async fn changes_uncounted(
    store: &PgStore,
    scope: &Scope,
    filter: &ChangeFilter,
    page: &PageRequest,
) -> StoreResult<Page<Change>> {
    changes_counted(store, scope, filter, page, false).await
}

async fn changes_counted(
    store: &PgStore,
    scope: &Scope,
    filter: &ChangeFilter,
    page: &PageRequest,
    count_all: bool,
) -> StoreResult<Page<Change>> {
    let after: i64 = match &page.after {
        Some(c) => {
            let after = c.parse().map_err(|_| StoreError::Invalid("invalid change cursor".into()))?;
            let horizon = change_horizon(store).await?;
            if after < horizon {
                return Err(StoreError::CursorExpired { oldest: horizon });
            }
            after
        }
        None => 0,
    };
    let total_count: i64 = if count_all {
        store.count(1);
        let mut count = QueryBuilder::<Postgres>::new(
            "SELECT count(*) FROM changes c JOIN items i ON i.rowid = c.item WHERE 1 = 1",
        );
        push_change_filter(&mut count, scope, filter);
        count.build_query_scalar().fetch_one(&store.pool).await?
    } else {
        0
    };
    store.count(1);
    let mut qb = QueryBuilder::<Postgres>::new(format!(
        "SELECT {CHANGE_COLUMNS} FROM changes c JOIN items i ON i.rowid = c.item WHERE c.sequence > "
    ));
    qb.push_bind(after);
    push_change_filter(&mut qb, scope, filter);
    qb.push(" ORDER BY c.sequence LIMIT ").push_bind(page.first as i64 + 1);
    let rows: Vec<ChangeRow> = qb.build_query_as().fetch_all(&store.pool).await?;
    // A prune committed between the horizon check and the read would leave a gap: check again.
    if page.after.is_some() {
        let horizon = change_horizon(store).await?;
        if after < horizon {
            return Err(StoreError::CursorExpired { oldest: horizon });
        }
    }
    let has_next_page = rows.len() > page.first;
    let edges = rows
        .into_iter()
        .take(page.first)
        .map(|r| Change::try_from(r).map(|c| (c.sequence.to_string(), c)))
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Page { edges, has_next_page, total_count })
}

/// Sequences are handed out under a lock held until commit (`PgStore::take_sequences`), so
/// everything up to the largest committed sequence is committed: reading up to it never skips a
/// change that commits later.
pub(super) async fn change_log(
    store: &PgStore,
    after: i64,
    limit: usize,
    include_backfill: bool,
) -> StoreResult<ChangeLogPage> {
    let head = change_head(store).await?;
    if head <= after {
        return Ok(ChangeLogPage { changes: Vec::new(), through: after });
    }
    store.count(1);
    let mut qb = QueryBuilder::<Postgres>::new(format!(
        "SELECT {CHANGE_COLUMNS} FROM changes c JOIN items i ON i.rowid = c.item WHERE c.sequence > "
    ));
    qb.push_bind(after).push(" AND c.sequence <= ").push_bind(head);
    if !include_backfill {
        qb.push(" AND NOT c.backfill");
    }
    qb.push(" ORDER BY c.sequence LIMIT ").push_bind(limit.max(1) as i64);
    let rows: Vec<ChangeRow> = qb.build_query_as().fetch_all(&store.pool).await?;
    let full = rows.len() >= limit.max(1);
    let changes = rows.into_iter().map(Change::try_from).collect::<StoreResult<Vec<_>>>()?;
    let through = match changes.last() {
        Some(last) if full => last.sequence,
        _ => head,
    };
    Ok(ChangeLogPage { changes, through })
}

/// The last committed sequence, or the pruning horizon when everything before it was pruned
/// (so the head never moves backwards).
pub(super) async fn change_head(store: &PgStore) -> StoreResult<i64> {
    store.count(1);
    Ok(sqlx::query_scalar(HEAD_SQL).fetch_one(&store.pool).await?)
}

/// The change log's head (see [`change_head`]), for use inside a transaction too.
pub(super) const HEAD_SQL: &str = "SELECT GREATEST(coalesce((SELECT max(sequence) FROM changes), 0), \
    coalesce((SELECT value FROM meta WHERE key = 'changes_pruned_through'), 0))";

pub(super) async fn change_horizon(store: &PgStore) -> StoreResult<i64> {
    store.count(1);
    let horizon: Option<i64> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'changes_pruned_through'")
        .fetch_optional(&store.pool)
        .await?;
    Ok(horizon.unwrap_or(0))
}

pub(super) async fn prune_changes(store: &PgStore, before: DateTime<Utc>) -> StoreResult<usize> {
    // The last sequence made before the cutoff: everything up to it goes, so what is pruned is
    // always a prefix of the log even if the clock stepped back between two changes.
    store.count(1);
    let last: Option<i64> = sqlx::query_scalar("SELECT max(sequence) FROM changes WHERE at < $1")
        .bind(to_millis(before))
        .fetch_one(&store.pool)
        .await?;
    let Some(last) = last else { return Ok(0) };
    let mut pruned = 0usize;
    loop {
        let _writer = store.writer.lock().await;
        let mut tx = store.begin_write().await?;
        store.count(3);
        let upto: Option<i64> = sqlx::query_scalar(
            "SELECT max(sequence) FROM (SELECT sequence FROM changes WHERE sequence <= $1 ORDER BY sequence LIMIT $2) s",
        )
        .bind(last)
        .bind(PRUNE_CHUNK)
        .fetch_one(&mut *tx)
        .await?;
        let Some(upto) = upto else { break };
        let deleted = sqlx::query("DELETE FROM changes WHERE sequence <= $1").bind(upto).execute(&mut *tx).await?;
        sqlx::query("UPDATE meta SET value = GREATEST(value, $1) WHERE key = 'changes_pruned_through'")
            .bind(upto)
            .execute(&mut *tx)
            .await?;
        store.commit(tx).await?;
        pruned += deleted.rows_affected() as usize;
        if upto >= last {
            break;
        }
    }
    Ok(pruned)
}
