//! Classifications changed after ingestion: a person's correction (`classifyItem`), kept through
//! later polls, and `tributary reclassify` applying changed rules. Each change that readers would
//! see bumps the item's version and writes an UPDATED change, in one transaction.

use chrono::Utc;
use sqlx::Sqlite;

use super::items::{category_token, country_token, ITEM_COLUMNS};
use super::rows::{categories_text, to_millis, ItemRow};
use super::SqliteStore;
use crate::model::Item;
use crate::store::{Reclassification, StoreError, StoreResult};

/// Applies `updates`; returns the items whose classification changed, with their new versions.
pub(super) async fn reclassify(store: &SqliteStore, updates: &[Reclassification]) -> StoreResult<Vec<Item>> {
    let _writer = store.writer.lock().await;
    let mut tx = store.begin_write().await?;
    let now = to_millis(Utc::now());
    let mut changed = Vec::new();
    for update in updates {
        store.count(1);
        let row: Option<ItemRow> = sqlx::query_as(&format!("SELECT {ITEM_COLUMNS} FROM items i WHERE i.id = ?"))
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
        let has_manual: bool = sqlx::query_scalar("SELECT manual_category IS NOT NULL FROM items WHERE rowid = ?")
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
        let version = item.version + 1;
        store.count(4);
        sqlx::query(
            "UPDATE items SET category = ?, categories = ?, classification_source = ?, terms = ?, route = ?, \
             version = ?, content_hash = coalesce(?, content_hash), \
             manual_category = CASE WHEN ? THEN ? ELSE manual_category END, \
             manual_categories = CASE WHEN ? THEN ? ELSE manual_categories END WHERE rowid = ?",
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
        .bind(rowid)
        .execute(&mut *tx)
        .await?;
        // The category facets are in the search index: its row is written again.
        let search_text =
            format!("{} {}", connectors::text::normalise(&item.title), connectors::text::normalise(&item.summary));
        let facets: Vec<String> = update
            .categories
            .iter()
            .map(|c| category_token(*c))
            .chain(item.countries.iter().map(|m| country_token(&m.code)))
            .collect();
        sqlx::query::<Sqlite>("DELETE FROM items_fts WHERE rowid = ?").bind(rowid).execute(&mut *tx).await?;
        sqlx::query::<Sqlite>("INSERT INTO items_fts (rowid, search_text, facets) VALUES (?, ?, ?)")
            .bind(rowid)
            .bind(search_text)
            .bind(facets.join(" "))
            .execute(&mut *tx)
            .await?;
        // A withdrawn item changes quietly: nobody follows it any more.
        if item.withdrawn_at.is_none() {
            sqlx::query::<Sqlite>(
                "INSERT INTO changes (item, kind, at, backfill, version) VALUES (?, 'UPDATED', ?, 0, ?)",
            )
            .bind(rowid)
            .bind(now)
            .bind(version)
            .execute(&mut *tx)
            .await?;
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
    store.commit_visible(tx).await?;
    Ok(changed)
}
