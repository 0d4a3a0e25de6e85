//! Classifications changed after ingestion: a person's correction (`classifyItem`), kept through
//! later polls, and `tributary reclassify` applying changed rules. Each change that readers would
//! see bumps the item's version and writes an UPDATED change, in one transaction.

use chrono::Utc;

use super::items::{category_token, country_token, ITEM_COLUMNS};
use super::rows::{categories_text, to_millis, ItemRow};
use super::PgStore;
use crate::model::Item;
use crate::store::{Reclassification, StoreError, StoreResult};

/// Applies `updates`; returns the items whose classification changed, with their new versions.
pub(super) async fn reclassify(store: &PgStore, updates: &[Reclassification]) -> StoreResult<Vec<Item>> {
    let _writer = store.writer.lock().await;
    let mut tx = store.begin_write().await?;
    let now = to_millis(Utc::now());
    let mut changed = Vec::new();
    // (rowid, version) of the live items that changed: their UPDATED changes are written last.
    let mut changes: Vec<(i64, i64)> = Vec::new();
    // The items stay locked to the commit, in rowid order as every writer locks them, so a poll
    // on another replica neither overwrites this nor writes the same version.
    let ids: Vec<&str> = updates.iter().map(|u| u.item.0.as_str()).collect();
    store.count(1);
    sqlx::query("SELECT rowid FROM items WHERE id = ANY($1) ORDER BY rowid FOR NO KEY UPDATE")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    for update in updates {
        store.count(1);
        let row: Option<ItemRow> = sqlx::query_as(&format!("SELECT {ITEM_COLUMNS} FROM items i WHERE i.id = $1"))
            .bind(&update.item.0)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            if update.manual {
                return Err(StoreError::NotFound);
            }
            continue;
        };
        let rowid = row.rowid();
        let item = Item::try_from(row)?;
        store.count(1);
        let has_manual: bool = sqlx::query_scalar("SELECT manual_category IS NOT NULL FROM items WHERE rowid = $1")
            .bind(rowid)
            .fetch_one(&mut *tx)
            .await?;
        // Rules never undo a person's correction.
        if has_manual && !update.manual {
            continue;
        }
        let route = update.route.clone().unwrap_or_else(|| item.route.clone());
        let same = item.category == update.category
            && item.categories == update.categories
            && item.classification_source == update.source
            && item.terms == update.terms
            && item.route == route;
        if same && (has_manual || !update.manual) {
            continue;
        }
        // The category facets are in the search index: its row is written again.
        let facets: Vec<String> = update
            .categories
            .iter()
            .map(|c| category_token(*c))
            .chain(item.countries.iter().map(|m| country_token(&m.code)))
            .collect();
        let version = item.version + 1;
        store.count(1);
        sqlx::query(
            "UPDATE items SET category = $1, categories = $2, classification_source = $3, terms = $4, route = $5, \
             version = $6, content_hash = coalesce($7, content_hash), \
             manual_category = CASE WHEN $8 THEN $9 ELSE manual_category END, \
             manual_categories = CASE WHEN $10 THEN $11 ELSE manual_categories END, facets = $12 WHERE rowid = $13",
        )
        .bind(update.category.as_str())
        .bind(categories_text(&update.categories))
        .bind(update.source.as_str())
        .bind(serde_json::to_string(&update.terms).unwrap_or_else(|_| "[]".into()))
        .bind(&route)
        .bind(version)
        .bind(&update.content_hash)
        .bind(update.manual)
        .bind(update.category.as_str())
        .bind(update.manual)
        .bind(categories_text(&update.categories))
        .bind(facets)
        .bind(rowid)
        .execute(&mut *tx)
        .await?;
        // A withdrawn item changes quietly: nobody follows it any more.
        if item.withdrawn_at.is_none() {
            changes.push((rowid, version));
        }
        changed.push(Item {
            category: update.category,
            categories: update.categories.clone(),
            classification_source: update.source,
            terms: update.terms.clone(),
            route,
            version,
            ..item
        });
    }
    if changed.is_empty() {
        return Ok(changed);
    }
    if !changes.is_empty() {
        let first = store.take_sequences(&mut tx, changes.len()).await?;
        store.count(1);
        let (rowids, versions): (Vec<i64>, Vec<i64>) = changes.into_iter().unzip();
        sqlx::query(
            "INSERT INTO changes (sequence, item, kind, at, backfill, version) \
             SELECT $1 + n - 1, rowid, 'UPDATED', $2, false, version FROM unnest($3::bigint[], $4::bigint[]) \
             WITH ORDINALITY AS u (rowid, version, n)",
        )
        .bind(first)
        .bind(now)
        .bind(&rowids)
        .bind(&versions)
        .execute(&mut *tx)
        .await?;
    }
    store.commit_visible(tx).await?;
    Ok(changed)
}
