//! Webhooks: endpoints that receive each change matching their filter, signed following the
//! Standard Webhooks convention. A webhook sees what the token that registered it may see.

use chrono::{DateTime, Utc};

use super::{named_enum, ChangeFilter, OrgId, TokenId};

/// A webhook's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebhookId(pub i64);

impl std::fmt::Display for WebhookId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

named_enum! {
    /// Whether a webhook is delivered to.
    WebhookState {
        /// Deliveries are made (and retried).
        Active => "ACTIVE",
        /// Failing for too long, its token revoked, or turned off: nothing is sent; `updateWebhook`
        /// turns it on again, and it resumes where it stopped.
        Disabled => "DISABLED",
    }
}

/// A webhook as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: WebhookId,
    /// The organisation whose token registered it (none for an admin's).
    pub organisation: Option<OrgId>,
    /// The token that registered it: deliveries carry what it may see.
    pub token: TokenId,
    /// Where changes are POSTed.
    pub url: String,
    /// Which changes.
    pub filter: ChangeFilter,
    /// The signing secret (`whsec_` and base64), shown once when registered.
    pub secret: String,
    pub state: WebhookState,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// Every matching change up to this sequence has been delivered.
    pub delivered_through: i64,
    /// Failed attempts at the next delivery, in a row.
    pub attempts: i64,
    /// When the current run of failures began.
    pub failing_since: Option<DateTime<Utc>>,
    /// When the next delivery (or retry) is due.
    pub next_attempt_at: DateTime<Utc>,
    /// The last attempt: when, the HTTP status (none when no answer came), the error.
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// What is needed to register a webhook.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub organisation: Option<OrgId>,
    pub token: TokenId,
    pub url: String,
    pub filter: ChangeFilter,
    pub secret: String,
}

/// A change to a webhook; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookUpdate {
    pub url: Option<String>,
    pub filter: Option<ChangeFilter>,
    /// Turn it on (ACTIVE, due now, failures forgotten) or off (DISABLED "turned off").
    pub enabled: Option<bool>,
}

/// One delivery attempt, kept for the webhook's owner to read.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDelivery {
    /// The `webhook-id` header: the same for every attempt at one change.
    pub message_id: String,
    /// The change's sequence.
    pub sequence: i64,
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<i64>,
    /// What went wrong, when something did.
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// A new signing secret: `whsec_` and 24 random bytes in base64, as Standard Webhooks writes them.
pub fn new_webhook_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 24];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source");
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}
