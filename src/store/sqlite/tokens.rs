//! API tokens: created with a role and binding, found by the hash of their secret, revoked.

use chrono::Utc;

use super::rows::{to_millis, TokenRow, TOKEN_COLUMNS};
use super::SqliteStore;
use crate::model::{NewToken, Token, TokenId, Viewer};
use crate::store::{StoreError, StoreResult};

pub(super) async fn create(store: &SqliteStore, token: &NewToken, hash: &str, prefix: &str) -> StoreResult<Token> {
    token.check().map_err(StoreError::Invalid)?;
    let _w = store.writer.lock().await;
    let mut tx = store.begin_write().await?;
    store.count(3);
    if let Some(org) = &token.organisation {
        let known: i64 = sqlx::query_scalar("SELECT count(*) FROM organisations WHERE id = ?")
            .bind(&org.0)
            .fetch_one(&mut *tx)
            .await?;
        if known == 0 {
            return Err(StoreError::Invalid(format!("no organisation `{org}`")));
        }
    }
    for network in &token.networks {
        let known: i64 = sqlx::query_scalar("SELECT count(*) FROM networks WHERE slug = ?")
            .bind(network)
            .fetch_one(&mut *tx)
            .await?;
        if known == 0 {
            return Err(StoreError::Invalid(format!("no network `{network}`")));
        }
    }
    let row: TokenRow = sqlx::query_as(&format!(
        "INSERT INTO tokens (name, hash, prefix, role, organisation, networks, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {TOKEN_COLUMNS}"
    ))
    .bind(token.name.trim())
    .bind(hash)
    .bind(prefix)
    .bind(token.role.as_str())
    .bind(token.organisation.as_ref().map(|o| o.0.clone()))
    .bind(serde_json::to_string(&token.networks).unwrap_or_else(|_| "[]".into()))
    .bind(to_millis(Utc::now()))
    .fetch_one(&mut *tx)
    .await?;
    store.commit_visible(tx).await?;
    row.try_into()
}

pub(super) async fn list(store: &SqliteStore) -> StoreResult<Vec<Token>> {
    store.count(1);
    let rows: Vec<TokenRow> =
        sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id")).fetch_all(&store.pool).await?;
    rows.into_iter().map(Token::try_from).collect()
}

pub(super) async fn revoke(store: &SqliteStore, id: TokenId) -> StoreResult<Token> {
    let _w = store.writer.lock().await;
    let mut tx = store.begin_write().await?;
    store.count(1);
    let row: Option<TokenRow> = sqlx::query_as(&format!(
        "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? RETURNING {TOKEN_COLUMNS}"
    ))
    .bind(to_millis(Utc::now()))
    .bind(id.0)
    .fetch_optional(&mut *tx)
    .await?;
    store.commit_visible(tx).await?;
    row.ok_or(StoreError::NotFound)?.try_into()
}

pub(super) async fn authenticate(store: &SqliteStore, hash: &str) -> StoreResult<Option<Viewer>> {
    store.count(1);
    let row: Option<TokenRow> =
        sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ? AND revoked_at IS NULL"))
            .bind(hash)
            .fetch_optional(&store.pool)
            .await?;
    viewer_of(store, row).await
}

/// The viewer token `id` stands for, while it is live.
pub(super) async fn viewer(store: &SqliteStore, id: TokenId) -> StoreResult<Option<Viewer>> {
    store.count(1);
    let row: Option<TokenRow> =
        sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ? AND revoked_at IS NULL"))
            .bind(id.0)
            .fetch_optional(&store.pool)
            .await?;
    viewer_of(store, row).await
}

async fn viewer_of(store: &SqliteStore, row: Option<TokenRow>) -> StoreResult<Option<Viewer>> {
    let Some(row) = row else { return Ok(None) };
    let token = Token::try_from(row)?;
    let organisation_networks = match &token.organisation {
        Some(org) => {
            store.count(1);
            sqlx::query_scalar("SELECT network FROM memberships WHERE organisation = ? ORDER BY network")
                .bind(&org.0)
                .fetch_all(&store.pool)
                .await?
        }
        None => Vec::new(),
    };
    Ok(Some(Viewer::Token { token, organisation_networks }))
}
