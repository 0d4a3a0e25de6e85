//! Webhooks and their delivery attempts.

use chrono::{DateTime, Utc};

use super::rows::{from_millis, to_millis, WebhookRow, WEBHOOK_COLUMNS as COLUMNS};
use super::PgStore;
use crate::model::{NewWebhook, OrgId, Webhook, WebhookDelivery, WebhookId, WebhookState, WebhookUpdate};
use crate::store::{StoreError, StoreResult, WebhookRun};

/// Attempts kept per webhook.
const KEPT_DELIVERIES: i64 = 50;

pub(super) async fn create(store: &PgStore, new: &NewWebhook) -> StoreResult<Webhook> {
    let _writer = store.writer.lock().await;
    let mut tx = store.begin_write().await?;
    store.count(2);
    // Deliveries begin with what is committed from now on.
    let head: i64 = sqlx::query_scalar(super::changes::HEAD_SQL).fetch_one(&mut *tx).await?;
    let now = to_millis(Utc::now());
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO webhooks (organisation, token, url, filter, secret, state, delivered_through, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'ACTIVE', $6, $7, $8) RETURNING id",
    )
    .bind(new.organisation.as_ref().map(|o| o.0.clone()))
    .bind(new.token.0)
    .bind(&new.url)
    .bind(new.filter.to_json().to_string())
    .bind(&new.secret)
    .bind(head)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    store.commit_visible(tx).await?;
    get(store, WebhookId(id)).await
}

pub(super) async fn list(store: &PgStore, organisation: Option<&OrgId>) -> StoreResult<Vec<Webhook>> {
    store.count(1);
    let rows: Vec<WebhookRow> = match organisation {
        Some(org) => {
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM webhooks WHERE organisation = $1 ORDER BY id"))
                .bind(&org.0)
                .fetch_all(&store.pool)
                .await?
        }
        None => sqlx::query_as(&format!("SELECT {COLUMNS} FROM webhooks ORDER BY id")).fetch_all(&store.pool).await?,
    };
    rows.into_iter().map(Webhook::try_from).collect()
}

pub(super) async fn get(store: &PgStore, id: WebhookId) -> StoreResult<Webhook> {
    store.count(1);
    let row: Option<WebhookRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(&store.pool)
        .await?;
    row.ok_or(StoreError::NotFound)?.try_into()
}

pub(super) async fn update(store: &PgStore, id: WebhookId, update: &WebhookUpdate) -> StoreResult<Webhook> {
    {
        let _writer = store.writer.lock().await;
        let mut tx = store.begin_write().await?;
        store.count(1);
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT id FROM webhooks WHERE id = $1").bind(id.0).fetch_optional(&mut *tx).await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        if let Some(url) = &update.url {
            store.count(1);
            sqlx::query("UPDATE webhooks SET url = $1 WHERE id = $2").bind(url).bind(id.0).execute(&mut *tx).await?;
        }
        if let Some(filter) = &update.filter {
            store.count(1);
            sqlx::query("UPDATE webhooks SET filter = $1 WHERE id = $2")
                .bind(filter.to_json().to_string())
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        match update.enabled {
            Some(true) => {
                store.count(1);
                sqlx::query(
                    "UPDATE webhooks SET state = 'ACTIVE', disabled_reason = NULL, attempts = 0, failing_since = NULL, \
                     next_attempt_at = $1, delivered_through = GREATEST(delivered_through, \
                     (SELECT value FROM meta WHERE key = 'changes_pruned_through')) WHERE id = $2",
                )
                .bind(to_millis(Utc::now()))
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            }
            Some(false) => {
                store.count(1);
                sqlx::query("UPDATE webhooks SET state = 'DISABLED', disabled_reason = 'turned off' WHERE id = $1")
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
            }
            None => {}
        }
        store.commit_visible(tx).await?;
    }
    get(store, id).await
}

pub(super) async fn delete(store: &PgStore, id: WebhookId) -> StoreResult<Webhook> {
    let webhook = get(store, id).await?;
    let _writer = store.writer.lock().await;
    let mut tx = store.begin_write().await?;
    store.count(2);
    sqlx::query("DELETE FROM webhook_deliveries WHERE webhook = $1").bind(id.0).execute(&mut *tx).await?;
    sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id.0).execute(&mut *tx).await?;
    store.commit_visible(tx).await?;
    Ok(webhook)
}

pub(super) async fn due(
    store: &PgStore,
    now: DateTime<Utc>,
    head: i64,
    limit: usize,
    lease_until: DateTime<Utc>,
) -> StoreResult<Vec<Webhook>> {
    let _writer = store.writer.lock().await;
    store.count(1);
    let now = to_millis(now);
    let rows: Vec<WebhookRow> = sqlx::query_as(&format!(
        "UPDATE webhooks SET lease_until = $1, lease_owner = $6 WHERE id IN (SELECT id FROM webhooks WHERE state = 'ACTIVE' \
         AND (lease_until IS NULL OR lease_until < $2) \
         AND ((attempts > 0 AND next_attempt_at <= $3) OR (attempts = 0 AND delivered_through < $4)) \
         ORDER BY next_attempt_at LIMIT $5 FOR UPDATE SKIP LOCKED) RETURNING {COLUMNS}"
    ))
    .bind(to_millis(lease_until))
    .bind(now)
    .bind(now)
    .bind(head)
    .bind(limit as i64)
    .bind(&store.owner)
    .fetch_all(&store.pool)
    .await?;
    let mut webhooks = rows.into_iter().map(Webhook::try_from).collect::<StoreResult<Vec<_>>>()?;
    webhooks.sort_by_key(|w| (w.next_attempt_at, w.id.0));
    Ok(webhooks)
}

pub(super) async fn release(store: &PgStore, id: WebhookId) -> StoreResult<()> {
    store.count(1);
    sqlx::query("UPDATE webhooks SET lease_until = NULL, lease_owner = NULL WHERE id = $1 AND lease_owner = $2")
        .bind(id.0)
        .bind(&store.owner)
        .execute(&store.pool)
        .await?;
    Ok(())
}

pub(super) async fn next_due(store: &PgStore) -> StoreResult<Option<DateTime<Utc>>> {
    store.count(1);
    let at: Option<i64> =
        sqlx::query_scalar("SELECT min(next_attempt_at) FROM webhooks WHERE state = 'ACTIVE' AND attempts > 0")
            .fetch_one(&store.pool)
            .await?;
    Ok(at.map(from_millis))
}

pub(super) async fn record(
    store: &PgStore,
    id: WebhookId,
    delivery: Option<&WebhookDelivery>,
    run: &WebhookRun,
) -> StoreResult<bool> {
    let _writer = store.writer.lock().await;
    let mut tx = store.begin_write().await?;
    store.count(1);
    // Only an ACTIVE webhook moves on: one disabled or deleted meanwhile stays as its owner left it.
    let (state, reason) = match &run.disable {
        Some(reason) => (WebhookState::Disabled, Some(reason.as_str())),
        None => (WebhookState::Active, None),
    };
    let updated = sqlx::query(
        "UPDATE webhooks SET state = $1, disabled_reason = $2, delivered_through = GREATEST(delivered_through, $3), \
         attempts = $4, failing_since = $5, next_attempt_at = $6, \
         last_attempt_at = coalesce($7, last_attempt_at), last_status = CASE WHEN $8 THEN $9 ELSE last_status END, \
         last_error = CASE WHEN $10 THEN $11 ELSE last_error END, last_success_at = coalesce($12, last_success_at) \
         WHERE id = $13 AND state = 'ACTIVE' AND (lease_owner IS NULL OR lease_owner = $14)",
    )
    .bind(state.as_str())
    .bind(reason)
    .bind(run.delivered_through)
    .bind(run.attempts)
    .bind(run.failing_since.map(to_millis))
    .bind(to_millis(run.next_attempt_at))
    .bind(delivery.map(|d| to_millis(d.at)))
    .bind(delivery.is_some())
    .bind(delivery.and_then(|d| d.status))
    .bind(delivery.is_some())
    .bind(delivery.and_then(|d| d.error.clone()))
    .bind(delivery.filter(|d| d.error.is_none()).map(|d| to_millis(d.at)))
    .bind(id.0)
    .bind(&store.owner)
    .execute(&mut *tx)
    .await?;
    if let (Some(d), true) = (delivery, updated.rows_affected() > 0) {
        store.count(2);
        sqlx::query(
            "INSERT INTO webhook_deliveries (webhook, message_id, sequence, at, status, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.0)
        .bind(&d.message_id)
        .bind(d.sequence)
        .bind(to_millis(d.at))
        .bind(d.status)
        .bind(&d.error)
        .bind(d.duration_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE webhook = $1 AND id <= \
             (SELECT id FROM webhook_deliveries WHERE webhook = $2 ORDER BY id DESC LIMIT 1 OFFSET $3)",
        )
        .bind(id.0)
        .bind(id.0)
        .bind(KEPT_DELIVERIES)
        .execute(&mut *tx)
        .await?;
    }
    let updated = updated.rows_affected() > 0;
    // The webhook's status is served through the API: cached answers must go.
    store.commit_visible(tx).await?;
    Ok(updated)
}

/// message_id, sequence, at, status, error, duration_ms.
type DeliveryRow = (String, i64, i64, Option<i64>, Option<String>, i64);

pub(super) async fn deliveries(store: &PgStore, id: WebhookId, limit: usize) -> StoreResult<Vec<WebhookDelivery>> {
    store.count(1);
    let rows: Vec<DeliveryRow> = sqlx::query_as(
        "SELECT message_id, sequence, at, status, error, duration_ms FROM webhook_deliveries \
         WHERE webhook = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(id.0)
    .bind(limit as i64)
    .fetch_all(&store.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(message_id, sequence, at, status, error, duration_ms)| WebhookDelivery {
            message_id,
            sequence,
            at: from_millis(at),
            status,
            error,
            duration_ms,
        })
        .collect())
}
