//! Webhook deliveries. The change log is the outbox: every change is committed with the item it
//! describes, and each webhook delivers the changes matching its filter after the sequence it has
//! delivered through, one at a time and in order, moving on only when the receiver accepted one
//! (any 2xx). A failed delivery is retried with exponential backoff, across restarts (the position
//! and the retry time are in the database); a webhook failing without a break for
//! `webhooks.disable_after_secs` is disabled with the reason. Messages are signed following
//! Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256
//! of "id.timestamp.body">`, keyed with the base64 part of the `whsec_` secret.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::Utc;
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde_json::json;
use sha2::Sha256;

use crate::access;
use crate::config::WebhookSettings;
use crate::model::{Change, ChangeKind, Item, Webhook, WebhookDelivery, WebhookId};
use crate::poller::fetch::Fetcher;
use crate::store::{PageRequest, Store, StoreError, WebhookRun};

/// Webhooks read per round.
const ROUND: usize = 256;

/// Delivers webhooks.
pub struct Deliverer {
    store: Arc<dyn Store>,
    fetcher: Fetcher,
    settings: WebhookSettings,
    /// The change-log head at which each idle webhook last found nothing to send: it is not asked
    /// again until the log grows.
    idle_at: Mutex<HashMap<WebhookId, i64>>,
}

/// The Standard Webhooks signature of a message.
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &[u8]) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    let key = engine.decode(secret.strip_prefix("whsec_").unwrap_or(secret)).unwrap_or_default();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", engine.encode(mac.finalize().into_bytes()))
}

/// The JSON body delivered for a change.
pub fn payload(change: &Change, item: &Item) -> serde_json::Value {
    let kind = match change.kind {
        ChangeKind::Created => "change.created",
        ChangeKind::Updated => "change.updated",
        ChangeKind::Withdrawn => "change.withdrawn",
    };
    let cursor = crate::graphql::encode_change_cursor(change.sequence);
    json!({
        "type": kind,
        "timestamp": change.at.to_rfc3339(),
        "data": {
            "cursor": cursor,
            "sequence": change.sequence,
            "kind": change.kind.as_str(),
            "at": change.at.to_rfc3339(),
            "backfill": change.backfill,
            "item": {
                "id": crate::graphql::global_id("Item", &item.id.0),
                "title": item.title,
                "summary": item.summary,
                "url": item.url,
                "language": item.language,
                "publishedAt": item.published_at.map(|t| t.to_rfc3339()),
                "updatedAt": item.updated_at.map(|t| t.to_rfc3339()),
                "category": item.category.as_str(),
                "categories": item.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
                "terms": item.terms,
                "countries": item.countries.iter().map(|m| json!({ "country": m.code.as_str(), "role": m.role.as_str() })).collect::<Vec<_>>(),
                "route": item.route,
                "organisation": item.organisation.0,
                "feed": crate::graphql::global_id("Feed", &item.feed.0.to_string()),
                "visibility": item.visibility.as_str(),
                "version": item.version,
            }
        }
    })
}

/// What one webhook's turn came to.
enum Outcome {
    /// Nothing (more) to send.
    Idle,
    /// A delivery failed; retried later.
    Retry,
}

impl Deliverer {
    /// A deliverer posting through `fetcher` (and so its SSRF guard).
    pub fn new(store: Arc<dyn Store>, fetcher: Fetcher, settings: WebhookSettings) -> Deliverer {
        Deliverer { store, fetcher, settings, idle_at: Mutex::new(HashMap::new()) }
    }

    /// Delivers until `stop` completes: woken by every write, and by retries falling due.
    pub async fn run(self: Arc<Self>, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut versions = self.store.watch_data_version();
        loop {
            let wait = match self.deliver_due().await {
                Ok(()) => match self.store.next_webhook_due().await {
                    Ok(Some(at)) => (at - Utc::now()).to_std().unwrap_or(Duration::ZERO).min(Duration::from_secs(60)),
                    Ok(None) => Duration::from_secs(60),
                    Err(_) => Duration::from_secs(5),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "webhook deliveries could not read the database; retrying");
                    Duration::from_secs(5)
                }
            };
            // A webhook that is due but idle waits for the log to grow, not for its due time.
            let wait = wait.max(Duration::from_millis(50));
            tokio::select! {
                _ = &mut stop => return,
                changed = versions.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Gives every due webhook its turn, several at once.
    pub async fn deliver_due(&self) -> Result<(), StoreError> {
        let head = self.store.change_head().await?;
        let due = self.store.due_webhooks(Utc::now(), ROUND).await?;
        let due: Vec<Webhook> = {
            let idle = self.idle_at.lock().unwrap_or_else(|p| p.into_inner());
            due.into_iter().filter(|w| w.attempts > 0 || idle.get(&w.id) != Some(&head)).collect()
        };
        let results: Vec<(WebhookId, Result<Outcome, StoreError>)> = futures_util::stream::iter(due)
            .map(|webhook| async move { (webhook.id, self.deliver(webhook).await) })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        let mut idle = self.idle_at.lock().unwrap_or_else(|p| p.into_inner());
        for (id, result) in results {
            match result {
                Ok(Outcome::Idle) => {
                    idle.insert(id, head);
                }
                Ok(Outcome::Retry) => {
                    idle.remove(&id);
                }
                Err(e) => {
                    idle.remove(&id);
                    tracing::warn!(webhook = %id, error = %e, "a webhook's turn failed");
                }
            }
        }
        Ok(())
    }

    /// Delivers a webhook's pending changes in order until none is left or one fails.
    async fn deliver(&self, mut webhook: Webhook) -> Result<Outcome, StoreError> {
        let Some(viewer) = self.store.token_viewer(webhook.token).await? else {
            self.disable(&webhook, "the token that registered it was revoked".into()).await?;
            return Ok(Outcome::Idle);
        };
        let scope = access::scope(&viewer);
        loop {
            let page = PageRequest { first: 1, after: Some(webhook.delivered_through.to_string()) };
            let change = match self.store.changes_page(&scope, &webhook.filter, &page).await {
                Ok(page) => page.edges.into_iter().next().map(|(_, c)| c),
                Err(StoreError::CursorExpired { oldest }) => {
                    let reason = format!(
                        "changes after sequence {} were pruned from the change log before they could be delivered \
                         (it keeps changes.retention_days); turning it on again resumes after sequence {oldest}",
                        webhook.delivered_through
                    );
                    self.disable(&webhook, reason).await?;
                    return Ok(Outcome::Idle);
                }
                Err(e) => return Err(e),
            };
            let Some(change) = change else { return Ok(Outcome::Idle) };
            let Some(item) = self.store.items_by_ids(&scope, std::slice::from_ref(&change.item)).await?.pop() else {
                // Not visible after all (its feed's visibility changed): nothing to send for it.
                let run = WebhookRun { delivered_through: change.sequence, ..self.settled(&webhook) };
                self.store.record_webhook_run(webhook.id, None, &run).await?;
                webhook.delivered_through = change.sequence;
                continue;
            };
            let delivery = self.send(&webhook, &change, &item).await;
            let now = Utc::now();
            if delivery.error.is_none() {
                let run = WebhookRun { delivered_through: change.sequence, ..self.settled(&webhook) };
                self.store.record_webhook_run(webhook.id, Some(&delivery), &run).await?;
                webhook.delivered_through = change.sequence;
                webhook.attempts = 0;
                webhook.failing_since = None;
                continue;
            }
            let attempts = webhook.attempts + 1;
            let failing_since = webhook.failing_since.unwrap_or(now);
            let failing_for = (now - failing_since).to_std().unwrap_or_default();
            let disable = (failing_for >= Duration::from_secs(self.settings.disable_after_secs)).then(|| {
                format!(
                    "failing since {}: {}",
                    failing_since.to_rfc3339(),
                    delivery.error.as_deref().unwrap_or("delivery failed")
                )
            });
            let run = WebhookRun {
                delivered_through: webhook.delivered_through,
                attempts,
                failing_since: Some(failing_since),
                next_attempt_at: now + self.backoff(attempts),
                disable,
            };
            self.store.record_webhook_run(webhook.id, Some(&delivery), &run).await?;
            return Ok(Outcome::Retry);
        }
    }

    /// Where a webhook stands with nothing failing.
    fn settled(&self, webhook: &Webhook) -> WebhookRun {
        WebhookRun {
            delivered_through: webhook.delivered_through,
            attempts: 0,
            failing_since: None,
            next_attempt_at: Utc::now(),
            disable: None,
        }
    }

    async fn disable(&self, webhook: &Webhook, reason: String) -> Result<(), StoreError> {
        tracing::warn!(webhook = %webhook.id, %reason, "webhook disabled");
        let run = WebhookRun { disable: Some(reason), ..self.settled(webhook) };
        self.store.record_webhook_run(webhook.id, None, &run).await
    }

    /// The wait before retry number `attempts`: the base, doubled each time, up to the maximum.
    fn backoff(&self, attempts: i64) -> chrono::Duration {
        let base = self.settings.retry_base_ms.max(1);
        let doubled = base.saturating_mul(1u64 << attempts.clamp(1, 40).saturating_sub(1));
        let ms = doubled.min(self.settings.retry_max_secs.saturating_mul(1000).max(base));
        chrono::Duration::milliseconds(ms as i64)
    }

    /// Sends one change; the attempt as recorded.
    async fn send(&self, webhook: &Webhook, change: &Change, item: &Item) -> WebhookDelivery {
        let message_id = format!("msg_{}_{}", webhook.id, change.sequence);
        let body = payload(change, item).to_string().into_bytes();
        let timestamp = Utc::now().timestamp();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let mut put = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        };
        put("webhook-id", message_id.clone());
        put("webhook-timestamp", timestamp.to_string());
        put("webhook-signature", sign(&webhook.secret, &message_id, timestamp, &body));
        let started = Instant::now();
        let at = Utc::now();
        let timeout = Duration::from_secs(self.settings.timeout_secs.max(1));
        let (status, error) = match url::Url::parse(&webhook.url) {
            Err(e) => (None, Some(format!("the URL does not parse: {e}"))),
            Ok(url) => match self.fetcher.post(&url, headers, body, timeout).await {
                Ok(status) if status.is_success() => (Some(i64::from(status.as_u16())), None),
                Ok(status) => (Some(i64::from(status.as_u16())), Some(format!("the receiver answered {status}"))),
                Err(reason) => (None, Some(reason)),
            },
        };
        WebhookDelivery {
            message_id,
            sequence: change.sequence,
            at,
            status,
            error,
            duration_ms: started.elapsed().as_millis() as i64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The example in the Standard Webhooks specification (spec/standard-webhooks.md).
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
