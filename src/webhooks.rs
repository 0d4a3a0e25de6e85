//! Webhook deliveries. The change log is the outbox: every change is committed with the item it
//! describes, and each webhook delivers the changes matching its filter after the sequence it has
//! delivered through, one at a time and in order, moving on only when the receiver accepted one
//! (any 2xx). A failed delivery is retried with exponential backoff, across restarts (the position
//! and the retry time are in the database); a webhook failing without a break for
//! `webhooks.disable_after_secs` is disabled with the reason. Messages are signed following
//! Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256
//! of "id.timestamp.body">`, keyed with the base64 part of the `whsec_` secret.

use std::future::Future;
use std::sync::Arc;
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
use crate::model::{Change, ChangeKind, Item, Webhook, WebhookDelivery, WebhookId, WebhookState};
use crate::poller::fetch::Fetcher;
use crate::store::{PageRequest, Store, StoreError, WebhookRun};

/// The most webhooks claimed (and delivered to at once) per round.
const ROUND: usize = 256;

/// Deliveries one webhook makes in one turn, so a long backlog does not hold the others back.
const TURN: usize = 50;

/// Delivers webhooks.
pub struct Deliverer {
    store: Arc<dyn Store>,
    fetcher: Fetcher,
    settings: WebhookSettings,
}

/// What of a webhook URL may be shown in logs and errors: its origin (receivers such as chat
/// services put secrets in the path or query).
pub fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}/…", u.origin().ascii_serialization()),
        Err(_) => "(an invalid URL)".into(),
    }
}

/// `text` with `url` (and its form without a query) replaced by what may be shown of it.
fn without_url(text: &str, url: &str) -> String {
    let shown = shown_url(url);
    let mut out = text.replace(url, &shown);
    if let Some((bare, _)) = url.split_once('?') {
        out = out.replace(bare, &shown);
    }
    if let Ok(parsed) = url::Url::parse(url) {
        out = out.replace(parsed.as_str(), &shown);
    }
    out
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
            // The item's version after this change; `item` is the item as it is when delivered
            // (a later edit may already be in it, and comes as a change of its own).
            "version": change.version,
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

impl Deliverer {
    /// A deliverer posting through `fetcher` (and so its SSRF guard).
    pub fn new(store: Arc<dyn Store>, fetcher: Fetcher, settings: WebhookSettings) -> Deliverer {
        Deliverer { store, fetcher, settings }
    }

    /// Delivers until `stop` completes: woken by every write, and by retries falling due.
    pub async fn run(self: Arc<Self>, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut versions = self.store.watch_data_version();
        loop {
            // New changes wake this loop (every write moves the data version); retries fall due.
            let wait = match self.deliver_due().await {
                Ok(true) => Duration::ZERO,
                Ok(false) => match self.store.next_webhook_due().await {
                    Ok(Some(at)) => (at - Utc::now()).to_std().unwrap_or(Duration::ZERO).min(Duration::from_secs(60)),
                    Ok(None) => Duration::from_secs(60),
                    Err(_) => Duration::from_secs(5),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "webhook deliveries could not read the database; retrying");
                    Duration::from_secs(5)
                }
            };
            let wait = wait.max(Duration::from_millis(10));
            tokio::select! {
                _ = &mut stop => return,
                changed = versions.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// How long a turn may take: the lease it holds, less room for its last delivery.
    fn turn_time(&self) -> Duration {
        self.lease() - Duration::from_secs(self.settings.timeout_secs.max(1) * 2)
    }

    /// How long a webhook's turn is leased to this process.
    fn lease(&self) -> Duration {
        Duration::from_secs((self.settings.timeout_secs.max(1) * 6).max(120))
    }

    /// Gives every webhook with something to do its turn, several at once, each claimed under a
    /// lease so that of several hub processes only one delivers it. Returns whether a turn
    /// stopped with more left to send, or more webhooks may be due (the caller goes again at once).
    pub async fn deliver_due(&self) -> Result<bool, StoreError> {
        let head = self.store.change_head().await?;
        let now = Utc::now();
        let lease_until = now + chrono::Duration::from_std(self.lease()).unwrap_or_default();
        // No more than are delivered at once: a claimed webhook never waits for a free slot while
        // its lease runs.
        let limit = self.settings.concurrency.clamp(1, ROUND);
        let due = self.store.due_webhooks(now, head, limit, lease_until).await?;
        let claimed_all = due.len() == limit;
        let results: Vec<(WebhookId, Result<bool, StoreError>)> = futures_util::stream::iter(due)
            .map(|webhook| async move {
                let id = webhook.id;
                let result = self.deliver(webhook, head).await;
                if let Err(e) = self.store.release_webhook(id).await {
                    tracing::warn!(webhook = %id, error = %e, "could not release a webhook's lease; it expires");
                }
                (id, result)
            })
            .buffer_unordered(limit)
            .collect()
            .await;
        let mut more = claimed_all;
        for (id, result) in results {
            match result {
                Ok(left) => more |= left,
                Err(e) => tracing::warn!(webhook = %id, error = %e, "a webhook's turn failed"),
            }
        }
        Ok(more)
    }

    /// Delivers a webhook's pending changes in order until none is left, one fails, or its turn
    /// is over; the webhook is read again after each delivery, so a change its owner makes (a
    /// new URL or filter, turning it off, deleting it) or a revoked token takes effect at once.
    /// Returns whether changes are left for its next turn.
    async fn deliver(&self, mut webhook: Webhook, head: i64) -> Result<bool, StoreError> {
        let started = std::time::Instant::now();
        for _ in 0..TURN {
            if started.elapsed() > self.turn_time() {
                break;
            }
            let Some(viewer) = self.store.token_viewer(webhook.token).await? else {
                self.disable(&webhook, "the token that registered it was revoked".into()).await?;
                return Ok(false);
            };
            let scope = access::scope(&viewer);
            let page = PageRequest { first: 1, after: Some(webhook.delivered_through.to_string()) };
            let change = match self.store.changes_after(&scope, &webhook.filter, &page).await {
                Ok(page) => page.edges.into_iter().next().map(|(_, c)| c),
                Err(StoreError::CursorExpired { oldest }) => {
                    let reason = format!(
                        "changes after sequence {} were pruned from the change log before they could be delivered \
                         (it keeps changes.retention_days); turning it on again resumes after sequence {oldest}",
                        webhook.delivered_through
                    );
                    self.disable(&webhook, reason).await?;
                    return Ok(false);
                }
                Err(e) => return Err(e),
            };
            let Some(change) = change else {
                // Nothing matches up to the head read before looking: the position moves there,
                // so a quiet webhook never falls behind the change log's horizon.
                if head > webhook.delivered_through {
                    let run = WebhookRun { delivered_through: head, ..self.settled(&webhook) };
                    self.store.record_webhook_run(webhook.id, None, &run).await?;
                }
                return Ok(false);
            };
            let item = self.store.items_by_ids(&scope, std::slice::from_ref(&change.item)).await?.pop();
            // An item no longer visible (its feed's visibility changed) has nothing to send.
            let delivery = match &item {
                Some(item) => Some(self.send(&webhook, &change, item).await),
                None => None,
            };
            let failed = match delivery {
                Some(d) if d.error.is_some() => d,
                delivered => {
                    let run = WebhookRun { delivered_through: change.sequence, ..self.settled(&webhook) };
                    if !self.store.record_webhook_run(webhook.id, delivered.as_ref(), &run).await? {
                        return Ok(false); // disabled or deleted meanwhile
                    }
                    match self.store.webhook(webhook.id).await {
                        Ok(fresh) if fresh.state == WebhookState::Active => webhook = fresh,
                        Ok(_) | Err(StoreError::NotFound) => return Ok(false),
                        Err(e) => return Err(e),
                    }
                    continue;
                }
            };
            let now = Utc::now();
            let attempts = webhook.attempts + 1;
            let failing_since = webhook.failing_since.unwrap_or(now);
            let failing_for = (now - failing_since).to_std().unwrap_or_default();
            let disable = (failing_for >= Duration::from_secs(self.settings.disable_after_secs)).then(|| {
                format!(
                    "failing since {}: {}",
                    failing_since.to_rfc3339(),
                    failed.error.as_deref().unwrap_or("delivery failed")
                )
            });
            let run = WebhookRun {
                delivered_through: webhook.delivered_through,
                attempts,
                failing_since: Some(failing_since),
                next_attempt_at: now + self.backoff(attempts),
                disable,
            };
            self.store.record_webhook_run(webhook.id, Some(&failed), &run).await?;
            return Ok(false);
        }
        Ok(true)
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
        self.store.record_webhook_run(webhook.id, None, &run).await.map(|_| ())
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
                Err(reason) => (None, Some(without_url(&reason, &webhook.url))),
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
