//! Mutations: a society's focal point registers, pauses and resumes its own feeds; admins manage
//! tokens. Who may do what is decided here, from the request's viewer; what a user can fix comes
//! back in `userErrors`, what a token may not do as a FORBIDDEN error.

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};

use super::error::{coded, store as store_error};
use super::ids::decode_id_of;
use super::request;
use super::scalars::{Category, CountryCode, FeedKind, Visibility};
use super::types::{Feed, Token};
use crate::model::{self, FeedId, NewFeed, NewToken, OrgId, TokenRole, Viewer};
use crate::store::StoreError;

/// The mutation root: feeds, tokens and organisations here, webhooks in `webhooks.rs`.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(FeedMutation, super::webhooks::WebhookMutation, super::classification::ClassifyMutation);

/// Mutations on feeds, tokens, organisations and memberships.
#[derive(Default)]
pub struct FeedMutation;

/// Most feeds one `importOpml` registers (each is checked and written in the request).
const MAX_IMPORT: usize = 100;

/// A problem with the input that its sender can fix.
#[derive(SimpleObject, Debug, Clone)]
pub struct UserError {
    /// The path to the input field at fault (`["input", "url"]`).
    pub field: Vec<String>,
    /// What is wrong, in plain words.
    pub message: String,
    /// BAD_USER_INPUT, or another code from the API's list.
    pub code: String,
}

pub(super) fn user_error(field: &[&str], message: impl Into<String>) -> UserError {
    UserError {
        field: field.iter().map(|f| f.to_string()).collect(),
        message: message.into(),
        code: "BAD_USER_INPUT".into(),
    }
}

/// A feed to register.
#[derive(InputObject)]
pub struct RegisterFeedInput {
    /// The feed's URL (RSS, Atom or JSON Feed; a CSV file; the first page of a JSON API).
    pub url: String,
    /// The owner's code. A MEMBER token registers for its own organisation (and may leave this
    /// out); an ADMIN token must say.
    pub organisation: Option<String>,
    /// What it publishes; by default the mapping's format says, else RSS.
    pub kind: Option<FeedKind>,
    /// A mapping (TOML) for a CSV file or a JSON API.
    pub mapping: Option<String>,
    /// A ready mapping by name instead (`hxl`, `missing-migrants`, `iom-dtm`, …).
    pub preset: Option<String>,
    /// Who may see it and its items (PUBLIC by default).
    pub visibility: Option<Visibility>,
    /// Category for items nothing else classifies.
    pub default_category: Option<Category>,
    /// Language assumed when the feed declares none (BCP 47).
    pub default_language: Option<String>,
    /// Countries every item concerns.
    pub default_countries: Option<Vec<CountryCode>>,
    /// Seconds between polls.
    pub poll_interval_secs: Option<i32>,
}

/// Changes to a feed; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateFeedInput {
    /// The feed.
    pub id: ID,
    /// A new URL (the feed moved); checked as at registration.
    pub url: Option<String>,
    /// A new kind (with `mapping` or `preset`, or alone).
    pub kind: Option<FeedKind>,
    /// A new mapping (TOML).
    pub mapping: Option<String>,
    /// A preset instead of a mapping.
    pub preset: Option<String>,
    /// Who may see it and its items from now on (its items follow at once).
    pub visibility: Option<Visibility>,
    pub default_category: Option<Category>,
    pub default_language: Option<String>,
    pub default_countries: Option<Vec<CountryCode>>,
    pub poll_interval_secs: Option<i32>,
}

/// The outcome of a feed mutation.
#[derive(SimpleObject)]
pub struct FeedPayload {
    /// The feed, when the mutation succeeded.
    pub feed: Option<Feed>,
    /// What the sender can fix; empty on success.
    pub user_errors: Vec<UserError>,
}

impl FeedPayload {
    fn refused(errors: Vec<UserError>) -> FeedPayload {
        FeedPayload { feed: None, user_errors: errors }
    }
}

/// The outcome of deleting a feed.
#[derive(SimpleObject)]
pub struct DeleteFeedPayload {
    /// The feed, now deleted (`deletedAt` set).
    pub feed: Option<Feed>,
    /// Its items withdrawn, each with a WITHDRAWN change.
    pub withdrawn_items: i32,
    /// What the sender can fix; empty on success.
    pub user_errors: Vec<UserError>,
}

/// An organisation to add.
#[derive(InputObject)]
pub struct CreateOrganisationInput {
    /// Its code: upper-case letters, digits and `-` (`UNICEF`, `MSF-OCB`); a society's is its
    /// country's ISO code, and societies are seeded.
    pub code: String,
    /// EXTERNAL for a publisher or observer outside the Movement; SOCIETY, IFRC or ICRC otherwise.
    pub kind: super::scalars::OrganisationKind,
    /// Its name in English.
    pub name: String,
    /// Its name in its own language, with that language's tag.
    pub local_name: Option<String>,
    pub local_language: Option<String>,
    /// Where its existence or role is established (a URL, minutes).
    pub source: Option<String>,
}

/// The outcome of an organisation or membership mutation.
#[derive(SimpleObject)]
pub struct OrganisationPayload {
    /// The organisation, when the mutation succeeded.
    pub organisation: Option<super::types::Organisation>,
    /// What the sender can fix; empty on success.
    pub user_errors: Vec<UserError>,
}

/// The outcome of importing an OPML list.
#[derive(SimpleObject)]
pub struct ImportOpmlPayload {
    /// The feeds registered.
    pub feeds: Vec<Feed>,
    /// Each outline that could not be registered (`field: ["opml", "3"]` for the third feed), or
    /// why the document could not be read.
    pub user_errors: Vec<UserError>,
}

/// A token to create.
#[derive(InputObject)]
pub struct CreateTokenInput {
    /// What it is for ("focal point of the French Red Cross").
    pub name: String,
    /// ADMIN, MEMBER or READER.
    pub role: super::scalars::TokenRole,
    /// For a MEMBER token: the organisation it acts for.
    pub organisation: Option<String>,
    /// For a READER token: the networks whose NETWORK items it reads (none: all).
    pub networks: Option<Vec<String>>,
}

/// A created token, with its secret: shown this once, never again.
#[derive(SimpleObject)]
pub struct CreateTokenPayload {
    /// The token, when created.
    pub token: Option<Token>,
    /// The secret to send as `Authorization: Bearer …`; only in this answer.
    pub secret: Option<String>,
    /// What the sender can fix; empty on success.
    pub user_errors: Vec<UserError>,
}

/// The outcome of revoking a token.
#[derive(SimpleObject)]
pub struct RevokeTokenPayload {
    /// The token, revoked.
    pub token: Option<Token>,
    /// What the sender can fix; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Who is changing something: an admin, or a MEMBER acting for its organisation.
pub(super) enum Actor {
    Admin,
    Member(OrgId),
}

/// The actor behind a mutation, or why there is none: UNAUTHENTICATED without a token,
/// FORBIDDEN for a READER token.
pub(super) fn actor(ctx: &Context<'_>) -> async_graphql::Result<Actor> {
    match &request(ctx).viewer {
        Viewer::Anonymous => Err(coded("UNAUTHENTICATED", "changing anything needs a token (Authorization: Bearer …)")),
        Viewer::Token { token, .. } => match (token.role, &token.organisation) {
            (TokenRole::Admin, _) => Ok(Actor::Admin),
            (TokenRole::Member, Some(org)) => Ok(Actor::Member(org.clone())),
            _ => Err(coded("FORBIDDEN", "a READER token reads; it cannot change anything")),
        },
    }
}

fn admin(ctx: &Context<'_>) -> async_graphql::Result<()> {
    match actor(ctx)? {
        Actor::Admin => Ok(()),
        Actor::Member(_) => Err(coded("FORBIDDEN", "only an ADMIN token can do this")),
    }
}

impl Actor {
    /// Whether this actor may manage what `owner` owns.
    pub(super) fn may_manage(&self, owner: &OrgId) -> async_graphql::Result<()> {
        match self {
            Actor::Admin => Ok(()),
            Actor::Member(org) if org == owner => Ok(()),
            Actor::Member(org) => {
                Err(coded("FORBIDDEN", format!("this belongs to {owner}; a token of {org} cannot change it")))
            }
        }
    }
}

/// Records a change in the audit log, as the request's viewer. A failure is logged: the change
/// itself is made.
pub(super) async fn audit(ctx: &Context<'_>, action: &str, subject: String, detail: String) {
    let r = request(ctx);
    let entry = model::NewAuditEntry { actor: model::actor_name(&r.viewer), action: action.into(), subject, detail };
    if let Err(e) = r.store.record_audit(&entry).await {
        tracing::error!(error = %e, action, "could not record an audit entry");
    }
}

/// Whether a feed's mapping holds or names secrets: headers read from the hub's environment
/// (`{ env = "NAME" }`), or a HUB feed's read token (written out or named).
fn has_secret_headers(kind: model::FeedKind, mapping: Option<&str>) -> bool {
    if kind == model::FeedKind::Hub {
        return mapping.and_then(|m| connectors::hub::HubSettings::parse(m).ok()).is_some_and(|s| s.token.is_some());
    }
    mapping
        .and_then(|m| connectors::mapping::Mapping::parse(m).ok())
        .is_some_and(|m| m.headers.values().any(|v| matches!(v, connectors::mapping::HeaderValue::Env(_))))
}

/// Secrets from the hub's environment are sent wherever the feed's URL points, so only an admin
/// may register a feed that uses them, or move one: a MEMBER could otherwise have any of the
/// hub's environment variables sent to a server of its choosing.
fn secrets_for_admins(actor: &Actor) -> Result<(), UserError> {
    match actor {
        Actor::Admin => Ok(()),
        Actor::Member(_) => Err(user_error(
            &["input", "mapping"],
            "a mapping with secret headers (`{ env = … }`), or a HUB feed's read token, sends secrets wherever the feed points: only an ADMIN token may register or move such a feed",
        )),
    }
}

/// The feed behind `id` as the viewer sees it (NOT_FOUND when it may not), and that the actor
/// may manage it (FORBIDDEN otherwise).
async fn managed_feed(ctx: &Context<'_>, actor: &Actor, id: &ID) -> async_graphql::Result<FeedId> {
    let r = request(ctx);
    let feed_id = decode_id_of("Feed", id)
        .and_then(|raw| raw.parse().ok())
        .map(FeedId)
        .ok_or_else(|| coded("BAD_USER_INPUT", format!("`{}` is not a feed id", id.0)))?;
    let feed = r.store.feeds_by_ids(&r.scope, &[feed_id]).await.map_err(store_error)?.pop();
    let feed = feed.ok_or_else(|| coded("NOT_FOUND", "no such feed"))?;
    actor.may_manage(&feed.organisation)?;
    Ok(feed_id)
}

#[Object]
impl FeedMutation {
    /// Registers a feed for an organisation: a MEMBER token for its own, an ADMIN token for any.
    /// It is polled within the poller's next round.
    async fn register_feed(&self, ctx: &Context<'_>, input: RegisterFeedInput) -> async_graphql::Result<FeedPayload> {
        let actor = actor(ctx)?;
        let organisation = match (&actor, input.organisation.as_deref().map(str::trim)) {
            (Actor::Member(own), None) => own.clone(),
            (_, Some(code)) => {
                let code = model::CountryCode::parse(code).map(|c| c.to_string()).unwrap_or_else(|_| code.to_string());
                OrgId(code)
            }
            (Actor::Admin, None) => {
                return Ok(FeedPayload::refused(vec![user_error(
                    &["input", "organisation"],
                    "say whose feed it is (an ADMIN token acts for no organisation)",
                )]))
            }
        };
        actor.may_manage(&organisation)?;
        let mut errors = Vec::new();
        let url = model::FeedUrl::parse(&input.url).map_err(|m| errors.push(user_error(&["input", "url"], m))).ok();
        let kind_and_mapping =
            NewFeed::kind_and_mapping(input.kind.map(Into::into), input.mapping, input.preset.as_deref())
                .and_then(|(kind, mapping)| {
                    NewFeed::check_kind_and_mapping(kind, mapping.as_deref()).map(|()| (kind, mapping))
                })
                .map_err(|m| errors.push(user_error(&["input", "mapping"], m)))
                .ok();
        let language = match input.default_language.as_deref() {
            Some(l) => match connectors::lang::canonical_tag(l) {
                Some(tag) => Some(tag),
                None => {
                    errors.push(user_error(&["input", "defaultLanguage"], format!("`{l}` is not a language tag")));
                    None
                }
            },
            None => None,
        };
        let settings = ctx.data_unchecked::<crate::config::PollSettings>();
        let interval = i64::from(input.poll_interval_secs.unwrap_or(settings.default_interval_secs as i32));
        if interval < settings.min_interval_secs {
            errors.push(user_error(
                &["input", "pollIntervalSecs"],
                format!("feeds are polled at most every {} s", settings.min_interval_secs),
            ));
        }
        let (Some(url), Some((kind, mapping)), true) = (url, kind_and_mapping, errors.is_empty()) else {
            return Ok(FeedPayload::refused(errors));
        };
        // A stranger's URL is fetched from the hub's own network: refused now when it points
        // inside it (polls check the address actually connected to, and every redirect, again).
        let guard = ctx.data_unchecked::<std::sync::Arc<crate::poller::guard::Guard>>();
        if let Err(blocked) = guard.check_target(url.as_url()).await {
            return Ok(FeedPayload::refused(vec![user_error(&["input", "url"], blocked.0)]));
        }
        let feed = NewFeed {
            organisation,
            url,
            kind,
            mapping,
            default_category: input.default_category.map(Into::into),
            default_language: language,
            default_countries: input.default_countries.unwrap_or_default().into_iter().map(|c| c.0).collect(),
            visibility: input.visibility.map(Into::into).unwrap_or(model::Visibility::Public),
            poll_interval_secs: interval,
        };
        if let Err(m) = feed.check() {
            return Ok(FeedPayload::refused(vec![user_error(&["input", "mapping"], m)]));
        }
        if has_secret_headers(feed.kind, feed.mapping.as_deref()) {
            if let Err(e) = secrets_for_admins(&actor) {
                return Ok(FeedPayload::refused(vec![e]));
            }
        }
        match request(ctx).store.add_feed(&feed).await {
            Ok(feed) => {
                let detail =
                    format!("{} {} for {} ({})", feed.kind, feed.url.as_str(), feed.organisation, feed.visibility);
                audit(ctx, "registerFeed", format!("feed {}", feed.id), detail).await;
                super::wake_poller(ctx);
                Ok(FeedPayload { feed: Some(Feed(feed)), user_errors: Vec::new() })
            }
            Err(StoreError::Conflict(m)) => Ok(FeedPayload::refused(vec![user_error(&["input", "url"], m)])),
            Err(StoreError::Invalid(m)) => Ok(FeedPayload::refused(vec![user_error(&["input", "organisation"], m)])),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Changes a feed of the viewer's organisation (any feed, for admins). A new URL or mapping
    /// makes the next poll, due now, read everything again.
    async fn update_feed(&self, ctx: &Context<'_>, input: UpdateFeedInput) -> async_graphql::Result<FeedPayload> {
        let actor = actor(ctx)?;
        let id = managed_feed(ctx, &actor, &input.id).await?;
        let r = request(ctx);
        let current = r.store.feeds_by_ids(&crate::access::Scope::System, &[id]).await.map_err(store_error)?.pop();
        let current = current.ok_or_else(|| coded("NOT_FOUND", "no such feed"))?;
        let mut errors = Vec::new();
        let mut update = model::FeedUpdate::default();
        if let Some(url) = &input.url {
            match model::FeedUrl::parse(url) {
                Ok(url) => {
                    let guard = ctx.data_unchecked::<std::sync::Arc<crate::poller::guard::Guard>>();
                    match guard.check_target(url.as_url()).await {
                        Ok(()) => update.url = Some(url),
                        Err(blocked) => errors.push(user_error(&["input", "url"], blocked.0)),
                    }
                }
                Err(m) => errors.push(user_error(&["input", "url"], m)),
            }
        }
        if input.kind.is_some() || input.mapping.is_some() || input.preset.is_some() {
            // A new mapping without a kind keeps the kind unless the mapping's format says otherwise.
            let kind = input
                .kind
                .map(Into::into)
                .or((input.mapping.is_none() && input.preset.is_none()).then_some(current.kind));
            let mapping = input.mapping.or_else(|| (input.preset.is_none()).then(|| current.mapping.clone()).flatten());
            match NewFeed::kind_and_mapping(kind, mapping, input.preset.as_deref()).and_then(|(kind, mapping)| {
                NewFeed::check_kind_and_mapping(kind, mapping.as_deref()).map(|()| (kind, mapping))
            }) {
                Ok(kind_and_mapping) => update.kind_and_mapping = Some(kind_and_mapping),
                Err(m) => errors.push(user_error(&["input", "mapping"], m)),
            }
        }
        if let Some(l) = input.default_language.as_deref() {
            match connectors::lang::canonical_tag(l) {
                Some(tag) => update.default_language = Some(tag),
                None => errors.push(user_error(&["input", "defaultLanguage"], format!("`{l}` is not a language tag"))),
            }
        }
        if let Some(secs) = input.poll_interval_secs {
            let settings = ctx.data_unchecked::<crate::config::PollSettings>();
            if i64::from(secs) < settings.min_interval_secs {
                let m = format!("feeds are polled at most every {} s", settings.min_interval_secs);
                errors.push(user_error(&["input", "pollIntervalSecs"], m));
            }
            update.poll_interval_secs = Some(i64::from(secs));
        }
        let secrets_after = match &update.kind_and_mapping {
            Some((kind, mapping)) => has_secret_headers(*kind, mapping.as_deref()),
            None => has_secret_headers(current.kind, current.mapping.as_deref()),
        };
        if secrets_after && (update.url.is_some() || update.kind_and_mapping.is_some()) {
            if let Err(e) = secrets_for_admins(&actor) {
                errors.push(e);
            }
        }
        if !errors.is_empty() {
            return Ok(FeedPayload::refused(errors));
        }
        update.visibility = input.visibility.map(Into::into);
        update.default_category = input.default_category.map(Into::into);
        update.default_countries = input.default_countries.map(|c| c.into_iter().map(|c| c.0).collect());
        match r.store.update_feed(id, &update).await {
            Ok(feed) => {
                audit(ctx, "updateFeed", format!("feed {}", feed.id), feed.url.as_str().to_string()).await;
                super::wake_poller(ctx);
                Ok(FeedPayload { feed: Some(Feed(feed)), user_errors: Vec::new() })
            }
            Err(StoreError::Conflict(m)) => Ok(FeedPayload::refused(vec![user_error(&["input", "url"], m)])),
            Err(StoreError::Invalid(m)) => Ok(FeedPayload::refused(vec![user_error(&["input", "mapping"], m)])),
            Err(e) => Err(store_error(e)),
        }
    }

    /// A dry run of registration: fetches and parses the URL now and says what would be stored
    /// (detected kind, title, the first items, warnings); nothing is stored. Given a web page, it
    /// lists the feeds the page advertises. For MEMBER and ADMIN tokens.
    async fn validate_feed(
        &self,
        ctx: &Context<'_>,
        input: super::validate::ValidateFeedInput,
    ) -> async_graphql::Result<super::validate::FeedValidation> {
        actor(ctx)?;
        super::validate::validate(ctx, input).await
    }

    /// Registers every feed an OPML list names, as RSS/Atom/JSON Feed feeds of the organisation
    /// (a MEMBER's own; an ADMIN names one), each checked as `registerFeed` checks it. Feeds that
    /// cannot be registered are listed in `userErrors`; the others are registered.
    async fn import_opml(
        &self,
        ctx: &Context<'_>,
        opml: String,
        organisation: Option<String>,
        visibility: Option<Visibility>,
    ) -> async_graphql::Result<ImportOpmlPayload> {
        let actor = actor(ctx)?;
        let organisation = match (&actor, organisation.as_deref().map(str::trim)) {
            (Actor::Member(own), None) => own.clone(),
            (_, Some(code)) => {
                OrgId(model::CountryCode::parse(code).map(|c| c.to_string()).unwrap_or_else(|_| code.to_string()))
            }
            (Actor::Admin, None) => {
                return Ok(ImportOpmlPayload {
                    feeds: Vec::new(),
                    user_errors: vec![user_error(
                        &["organisation"],
                        "say whose feeds they are (an ADMIN token acts for no organisation)",
                    )],
                })
            }
        };
        actor.may_manage(&organisation)?;
        let outlines = match connectors::opml::read(&opml) {
            Ok(outlines) if outlines.len() > MAX_IMPORT => {
                let m = format!("the list names {} feeds; import at most {MAX_IMPORT} at a time", outlines.len());
                return Ok(ImportOpmlPayload { feeds: Vec::new(), user_errors: vec![user_error(&["opml"], m)] });
            }
            Ok(outlines) => outlines,
            Err(m) => return Ok(ImportOpmlPayload { feeds: Vec::new(), user_errors: vec![user_error(&["opml"], m)] }),
        };
        let r = request(ctx);
        let guard = ctx.data_unchecked::<std::sync::Arc<crate::poller::guard::Guard>>();
        let interval = ctx.data_unchecked::<crate::config::PollSettings>().default_interval_secs;
        let mut feeds = Vec::new();
        let mut errors = Vec::new();
        for (n, outline) in outlines.iter().enumerate() {
            let field = (n + 1).to_string();
            let refuse = |m: String| UserError {
                field: vec!["opml".into(), field.clone()],
                message: format!("{}: {m}", outline.url),
                code: "BAD_USER_INPUT".into(),
            };
            let url = match model::FeedUrl::parse(&outline.url) {
                Ok(url) => url,
                Err(m) => {
                    errors.push(refuse(m));
                    continue;
                }
            };
            if let Err(blocked) = guard.check_target(url.as_url()).await {
                errors.push(refuse(blocked.0));
                continue;
            }
            let feed = NewFeed {
                visibility: visibility.map(Into::into).unwrap_or(model::Visibility::Public),
                ..NewFeed::new(organisation.clone(), url, interval)
            };
            match r.store.add_feed(&feed).await {
                Ok(feed) => {
                    let detail = format!("{} for {} (from OPML)", feed.url.as_str(), feed.organisation);
                    audit(ctx, "registerFeed", format!("feed {}", feed.id), detail).await;
                    feeds.push(Feed(feed));
                }
                Err(StoreError::Conflict(m) | StoreError::Invalid(m)) => errors.push(refuse(m)),
                Err(e) => return Err(store_error(e)),
            }
        }
        if !feeds.is_empty() {
            super::wake_poller(ctx);
        }
        Ok(ImportOpmlPayload { feeds, user_errors: errors })
    }

    /// Stops polling a feed; its items stay.
    async fn pause_feed(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<FeedPayload> {
        let actor = actor(ctx)?;
        let feed = managed_feed(ctx, &actor, &id).await?;
        let feed = request(ctx).store.set_feed_paused(feed, true).await.map_err(store_error)?;
        audit(ctx, "pauseFeed", format!("feed {}", feed.id), feed.url.as_str().to_string()).await;
        Ok(FeedPayload { feed: Some(Feed(feed)), user_errors: Vec::new() })
    }

    /// Polls a paused feed again, starting now.
    async fn resume_feed(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<FeedPayload> {
        let actor = actor(ctx)?;
        let feed = managed_feed(ctx, &actor, &id).await?;
        let feed = request(ctx).store.set_feed_paused(feed, false).await.map_err(store_error)?;
        audit(ctx, "resumeFeed", format!("feed {}", feed.id), feed.url.as_str().to_string()).await;
        super::wake_poller(ctx);
        Ok(FeedPayload { feed: Some(Feed(feed)), user_errors: Vec::new() })
    }

    /// Deletes a feed: no longer listed or polled; each of its items is withdrawn with a
    /// WITHDRAWN change, so subscribers learn of it and nothing disappears silently. Registering
    /// its URL again brings it back.
    async fn delete_feed(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<DeleteFeedPayload> {
        let actor = actor(ctx)?;
        let feed = managed_feed(ctx, &actor, &id).await?;
        // Withdrawing a large feed's items takes a while: it runs on its own, so a request that
        // times out or is dropped never leaves the feed deleted with items still live.
        let r = request(ctx);
        let store = std::sync::Arc::clone(&r.store);
        let actor = model::actor_name(&r.viewer);
        let deleting = tokio::spawn(async move {
            let (feed, withdrawn) = store.delete_feed(feed).await?;
            let detail = format!("{} ({withdrawn} items withdrawn)", feed.url.as_str());
            let entry = model::NewAuditEntry {
                actor,
                action: "deleteFeed".into(),
                subject: format!("feed {}", feed.id),
                detail,
            };
            if let Err(e) = store.record_audit(&entry).await {
                tracing::error!(error = %e, "could not record an audit entry");
            }
            Ok::<_, StoreError>((feed, withdrawn))
        });
        let (feed, withdrawn) = deleting
            .await
            .map_err(|e| coded("INTERNAL", format!("the deletion stopped: {e}")))?
            .map_err(store_error)?;
        Ok(DeleteFeedPayload {
            feed: Some(Feed(feed)),
            withdrawn_items: i32::try_from(withdrawn).unwrap_or(i32::MAX),
            user_errors: Vec::new(),
        })
    }

    /// Adds an organisation, such as an observer or an external publisher (admins only).
    async fn create_organisation(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganisationInput,
    ) -> async_graphql::Result<OrganisationPayload> {
        admin(ctx)?;
        let refused = |field: &str, m: String| OrganisationPayload {
            organisation: None,
            user_errors: vec![user_error(&["input", field], m)],
        };
        let code = input.code.trim().to_ascii_uppercase();
        if code.is_empty() || code.len() > 32 || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Ok(refused("code", format!("`{}` is not a code (letters, digits and `-`)", input.code)));
        }
        if input.name.trim().is_empty() {
            return Ok(refused("name", "an organisation needs a name".into()));
        }
        let organisation = model::Organisation {
            id: OrgId(code.clone()),
            kind: input.kind.into(),
            name_en: input.name.trim().to_string(),
            name_local: input.local_name.filter(|n| !n.trim().is_empty()),
            local_language: input.local_language.filter(|l| !l.trim().is_empty()),
            region: None,
            source: input.source.filter(|s| !s.trim().is_empty()),
        };
        let r = request(ctx);
        match r.store.create_organisation(&organisation).await {
            Ok(()) => {
                audit(ctx, "createOrganisation", format!("organisation {code}"), organisation.name_en.clone()).await;
                Ok(OrganisationPayload {
                    organisation: Some(super::types::Organisation(organisation)),
                    user_errors: Vec::new(),
                })
            }
            Err(StoreError::Conflict(m)) => Ok(refused("code", m)),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Adds an organisation to a network with a role, or changes its role (admins only).
    async fn set_membership(
        &self,
        ctx: &Context<'_>,
        network: String,
        organisation: String,
        role: super::scalars::MemberRole,
        source: Option<String>,
    ) -> async_graphql::Result<OrganisationPayload> {
        admin(ctx)?;
        let code = model::CountryCode::parse(&organisation)
            .map(|c| c.to_string())
            .unwrap_or_else(|_| organisation.trim().to_string());
        let membership = model::Membership {
            network: network.trim().to_ascii_lowercase(),
            organisation: OrgId(code.clone()),
            role: role.into(),
            source: source.filter(|s| !s.trim().is_empty()),
        };
        let r = request(ctx);
        match r.store.set_membership(&membership).await {
            Ok(()) => {
                let detail = format!("{} in {}", membership.role.as_str(), membership.network);
                audit(ctx, "setMembership", format!("organisation {code}"), detail).await;
                let organisation = r.store.organisations_by_ids(&[OrgId(code)]).await.map_err(store_error)?.pop();
                Ok(OrganisationPayload {
                    organisation: organisation.map(super::types::Organisation),
                    user_errors: Vec::new(),
                })
            }
            Err(StoreError::NotFound) => Ok(OrganisationPayload {
                organisation: None,
                user_errors: vec![user_error(
                    &["network"],
                    format!("no network `{}` or no organisation `{code}`", membership.network),
                )],
            }),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Creates an API token (admins only); its secret is in this answer only.
    async fn create_token(
        &self,
        ctx: &Context<'_>,
        input: CreateTokenInput,
    ) -> async_graphql::Result<CreateTokenPayload> {
        admin(ctx)?;
        let token = NewToken {
            name: input.name,
            role: input.role.into(),
            organisation: input.organisation.map(|o| {
                OrgId(model::CountryCode::parse(&o).map(|c| c.to_string()).unwrap_or_else(|_| o.trim().to_string()))
            }),
            networks: input.networks.unwrap_or_default().iter().map(|n| n.trim().to_ascii_lowercase()).collect(),
        };
        let refused =
            |m: String| CreateTokenPayload { token: None, secret: None, user_errors: vec![user_error(&["input"], m)] };
        if let Err(m) = token.check() {
            return Ok(refused(m));
        }
        let secret = model::new_secret().map_err(|m| coded("INTERNAL", m))?;
        let prefix: String = secret.chars().take(model::TOKEN_PREFIX.len() + 6).collect();
        match request(ctx).store.create_token(&token, &model::secret_hash(&secret), &prefix).await {
            Ok(created) => {
                let owner = created.organisation.as_ref().map(|o| format!(" for {o}")).unwrap_or_default();
                let detail = format!("{}{owner}: {}", created.role, created.name);
                audit(ctx, "createToken", format!("token {}", created.id), detail).await;
                Ok(CreateTokenPayload { token: Some(Token(created)), secret: Some(secret), user_errors: Vec::new() })
            }
            Err(StoreError::Invalid(m)) => Ok(refused(m)),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Revokes a token (admins only); it stops working at once.
    async fn revoke_token(&self, ctx: &Context<'_>, id: i32) -> async_graphql::Result<RevokeTokenPayload> {
        admin(ctx)?;
        match request(ctx).store.revoke_token(model::TokenId(i64::from(id))).await {
            Ok(token) => {
                audit(ctx, "revokeToken", format!("token {}", token.id), token.name.clone()).await;
                Ok(RevokeTokenPayload { token: Some(Token(token)), user_errors: Vec::new() })
            }
            Err(StoreError::NotFound) => {
                Ok(RevokeTokenPayload { token: None, user_errors: vec![user_error(&["id"], format!("no token {id}"))] })
            }
            Err(e) => Err(store_error(e)),
        }
    }
}
