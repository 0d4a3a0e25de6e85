//! Webhooks in the API: MEMBER and ADMIN tokens register endpoints that receive each matching
//! change, signed (Standard Webhooks); their owners read how deliveries are going.

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::error::{coded, store as store_error};
use super::ids::{decode_id_of, encode_id};
use super::mutation::{actor, audit, user_error, Actor, UserError};
use super::query::ChangeFilter;
use super::request;
use super::scalars::{self, CountryCode};
use crate::model::{self, Viewer, WebhookId};
use crate::store::StoreError;

/// A webhook: where matching changes are POSTed, and how deliveries are going.
pub struct Webhook(pub model::Webhook);

/// Whether a webhook is delivered to.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq)]
pub enum WebhookState {
    /// Deliveries are made, and failed ones retried.
    Active,
    /// Nothing is sent (see `disabledReason`); `updateWebhook(enabled: true)` resumes where it
    /// stopped.
    Disabled,
}

/// The changes a webhook receives.
#[derive(SimpleObject)]
pub struct WebhookFilter {
    networks: Vec<String>,
    societies: Vec<CountryCode>,
    countries: Vec<CountryCode>,
    categories: Vec<scalars::Category>,
    languages: Vec<String>,
    kinds: Vec<scalars::ChangeKind>,
    include_backfill: bool,
}

/// One attempt to deliver a change.
#[derive(SimpleObject)]
pub struct WebhookDelivery {
    /// The `webhook-id` header, the same for every attempt at one change.
    message_id: String,
    /// The change's sequence.
    sequence: i64,
    /// When.
    at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    status: Option<i64>,
    /// What went wrong, when something did.
    error: Option<String>,
    /// How long it took.
    duration_ms: i64,
}

#[Object]
impl Webhook {
    /// Global id.
    async fn id(&self) -> ID {
        ID(encode_id("Webhook", &self.0.id.to_string()))
    }
    /// Where changes are POSTed.
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// Which changes.
    async fn filter(&self) -> WebhookFilter {
        let f = &self.0.filter;
        WebhookFilter {
            networks: f.networks.clone(),
            societies: f.societies.iter().copied().map(CountryCode).collect(),
            countries: f.countries.iter().copied().map(CountryCode).collect(),
            categories: f.categories.iter().map(|c| (*c).into()).collect(),
            languages: f.languages.clone(),
            kinds: f.kinds.iter().map(|k| (*k).into()).collect(),
            include_backfill: f.include_backfill,
        }
    }
    /// ACTIVE, or DISABLED with `disabledReason`.
    async fn state(&self) -> WebhookState {
        match self.0.state {
            model::WebhookState::Active => WebhookState::Active,
            model::WebhookState::Disabled => WebhookState::Disabled,
        }
    }
    /// Why it was disabled.
    async fn disabled_reason(&self) -> Option<&str> {
        self.0.disabled_reason.as_deref()
    }
    /// The cursor of the last change delivered (or of the log's head when it was registered).
    async fn delivered_through(&self) -> String {
        super::encode_change_cursor(self.0.delivered_through)
    }
    /// Failed attempts at the next change, in a row.
    async fn attempts(&self) -> i64 {
        self.0.attempts
    }
    /// When the current run of failures began.
    async fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.0.failing_since
    }
    /// When the next delivery or retry is due.
    async fn next_attempt_at(&self) -> DateTime<Utc> {
        self.0.next_attempt_at
    }
    /// The last attempt.
    async fn last_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_attempt_at
    }
    /// The receiver's status at the last attempt.
    async fn last_status(&self) -> Option<i64> {
        self.0.last_status
    }
    /// What went wrong at the last attempt, when something did.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// The last delivery the receiver accepted.
    async fn last_success_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_success_at
    }
    /// When it was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// The latest delivery attempts, newest first (the last 50 are kept).
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
    ) -> async_graphql::Result<Vec<WebhookDelivery>> {
        let first = usize::try_from(first).ok().filter(|n| (1..=50).contains(n));
        let first = first.ok_or_else(|| coded("BAD_USER_INPUT", "`first` is from 1 to 50"))?;
        let deliveries = request(ctx).store.webhook_deliveries(self.0.id, first).await.map_err(store_error)?;
        Ok(deliveries
            .into_iter()
            .map(|d| WebhookDelivery {
                message_id: d.message_id,
                sequence: d.sequence,
                at: d.at,
                status: d.status,
                error: d.error,
                duration_ms: d.duration_ms,
            })
            .collect())
    }
}

/// Webhooks an actor manages: an admin's all, a member's its organisation's.
async fn managed(ctx: &Context<'_>, actor: &Actor, id: &ID) -> async_graphql::Result<model::Webhook> {
    let raw = decode_id_of("Webhook", id).and_then(|raw| raw.parse().ok());
    let id = raw.map(WebhookId).ok_or_else(|| coded("BAD_USER_INPUT", format!("`{}` is not a webhook id", id.0)))?;
    let webhook = match request(ctx).store.webhook(id).await {
        Ok(w) => w,
        Err(StoreError::NotFound) => return Err(coded("NOT_FOUND", "no such webhook")),
        Err(e) => return Err(store_error(e)),
    };
    match (actor, &webhook.organisation) {
        (Actor::Admin, _) => Ok(webhook),
        (Actor::Member(org), Some(owner)) if org == owner => Ok(webhook),
        // Another organisation's webhook is not even acknowledged.
        _ => Err(coded("NOT_FOUND", "no such webhook")),
    }
}

/// Reading webhooks.
#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The webhooks this token manages: an admin's sees all, a member's its organisation's.
    async fn webhooks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Webhook>> {
        let organisation = match actor(ctx)? {
            Actor::Admin => None,
            Actor::Member(org) => Some(org),
        };
        let store = &request(ctx).store;
        let webhooks = store.webhooks(organisation.as_ref()).await.map_err(store_error)?;
        Ok(webhooks.into_iter().map(Webhook).collect())
    }

    /// One webhook this token manages.
    async fn webhook(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Webhook> {
        let actor = actor(ctx)?;
        managed(ctx, &actor, &id).await.map(Webhook)
    }
}

/// A webhook to register.
#[derive(InputObject)]
pub struct RegisterWebhookInput {
    /// Where to POST changes (http or https; checked like a feed's URL).
    pub url: String,
    /// Which changes (the subscription's filter); all, without backfill, when left out.
    pub filter: Option<ChangeFilter>,
}

/// Changes to a webhook; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateWebhookInput {
    /// The webhook.
    pub id: ID,
    /// A new URL.
    pub url: Option<String>,
    /// A new filter.
    pub filter: Option<ChangeFilter>,
    /// Turn it on (failures forgotten, delivery resumes where it stopped) or off.
    pub enabled: Option<bool>,
}

/// A registered webhook, with its signing secret: shown this once.
#[derive(SimpleObject)]
pub struct RegisterWebhookPayload {
    /// The webhook, when registered.
    pub webhook: Option<Webhook>,
    /// The secret to verify signatures with (`whsec_…`, as Standard Webhooks libraries take it).
    pub secret: Option<String>,
    /// What the sender can fix; empty on success.
    pub user_errors: Vec<UserError>,
}

/// The outcome of changing or deleting a webhook.
#[derive(SimpleObject)]
pub struct WebhookPayload {
    /// The webhook.
    pub webhook: Option<Webhook>,
    /// What the sender can fix; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Checks a webhook URL: http(s), parsable, and not inside the hub's network (SSRF guard).
async fn check_url(ctx: &Context<'_>, url: &str, field: &[&str]) -> Result<String, UserError> {
    let parsed = url::Url::parse(url.trim()).map_err(|e| user_error(field, format!("`{url}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(user_error(field, "a webhook URL is http or https"));
    }
    let guard = ctx.data_unchecked::<std::sync::Arc<crate::poller::guard::Guard>>();
    guard.check_target(&parsed).await.map_err(|blocked| user_error(field, blocked.0))?;
    Ok(parsed.to_string())
}

/// Managing webhooks.
#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Registers a webhook (MEMBER and ADMIN tokens). It receives the changes committed from now
    /// on that match its filter and that this token may see, one POST per change, in order,
    /// retried until accepted; the answer holds the signing secret, shown only here.
    async fn register_webhook(
        &self,
        ctx: &Context<'_>,
        input: RegisterWebhookInput,
    ) -> async_graphql::Result<RegisterWebhookPayload> {
        let actor = actor(ctx)?;
        let Viewer::Token { token, .. } = &request(ctx).viewer else {
            return Err(coded("UNAUTHENTICATED", "registering a webhook needs a token"));
        };
        let url = match check_url(ctx, &input.url, &["input", "url"]).await {
            Ok(url) => url,
            Err(e) => return Ok(RegisterWebhookPayload { webhook: None, secret: None, user_errors: vec![e] }),
        };
        let new = model::NewWebhook {
            organisation: match actor {
                Actor::Admin => None,
                Actor::Member(org) => Some(org),
            },
            token: token.id,
            url,
            filter: input.filter.unwrap_or_default().into_store()?,
            secret: model::new_webhook_secret(),
        };
        let webhook = request(ctx).store.create_webhook(&new).await.map_err(store_error)?;
        audit(ctx, "registerWebhook", format!("webhook {}", webhook.id), crate::webhooks::shown_url(&webhook.url))
            .await;
        Ok(RegisterWebhookPayload {
            secret: Some(new.secret),
            webhook: Some(Webhook(webhook)),
            user_errors: Vec::new(),
        })
    }

    /// Changes a webhook's URL or filter, or turns it on or off.
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        input: UpdateWebhookInput,
    ) -> async_graphql::Result<WebhookPayload> {
        let actor = actor(ctx)?;
        let webhook = managed(ctx, &actor, &input.id).await?;
        let mut update = model::WebhookUpdate { enabled: input.enabled, ..Default::default() };
        if let Some(url) = &input.url {
            match check_url(ctx, url, &["input", "url"]).await {
                Ok(url) => update.url = Some(url),
                Err(e) => return Ok(WebhookPayload { webhook: None, user_errors: vec![e] }),
            }
        }
        update.filter = input.filter.map(ChangeFilter::into_store).transpose()?;
        let webhook = request(ctx).store.update_webhook(webhook.id, &update).await.map_err(store_error)?;
        let detail = match input.enabled {
            Some(true) => "turned on",
            Some(false) => "turned off",
            None => "changed",
        };
        audit(ctx, "updateWebhook", format!("webhook {}", webhook.id), detail.into()).await;
        Ok(WebhookPayload { webhook: Some(Webhook(webhook)), user_errors: Vec::new() })
    }

    /// Deletes a webhook: nothing more is sent to it.
    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<WebhookPayload> {
        let actor = actor(ctx)?;
        let webhook = managed(ctx, &actor, &id).await?;
        let webhook = request(ctx).store.delete_webhook(webhook.id).await.map_err(store_error)?;
        audit(ctx, "deleteWebhook", format!("webhook {}", webhook.id), crate::webhooks::shown_url(&webhook.url)).await;
        Ok(WebhookPayload { webhook: Some(Webhook(webhook)), user_errors: Vec::new() })
    }
}
