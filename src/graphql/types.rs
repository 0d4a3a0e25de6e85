//! GraphQL object types over the domain model.

use std::sync::Arc;

use async_graphql::{Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::error::{coded, store as store_err};
use super::ids::encode_id;
use super::scalars::{self, CountryCode};
use super::{request, Request};
use crate::model;
use crate::store::OrgFilter;

/// `totalCount` on every connection.
#[derive(SimpleObject)]
pub struct TotalCount {
    /// Rows matching in all, across pages.
    pub total_count: i64,
}

fn load_error(e: Arc<crate::store::StoreError>) -> async_graphql::Error {
    tracing::error!(error = %e, "loader failed");
    coded("INTERNAL", "internal error")
}

async fn organisation_of(ctx: &Context<'_>, id: &model::OrgId) -> async_graphql::Result<Organisation> {
    let r: &Request = request(ctx);
    r.loaders
        .orgs
        .load_one(id.clone())
        .await
        .map_err(load_error)?
        .map(Organisation)
        .ok_or_else(|| coded("NOT_FOUND", format!("organisation {id} not found")))
}

async fn networks_of(ctx: &Context<'_>, id: &model::OrgId) -> async_graphql::Result<Vec<Network>> {
    let loaders = &request(ctx).loaders;
    let memberships = loaders.memberships.load_one(id.clone()).await.map_err(load_error)?.unwrap_or_default();
    let slugs = memberships.into_iter().map(|m| m.network);
    let networks = loaders.networks.load_many(slugs.clone()).await.map_err(load_error)?;
    Ok(slugs.filter_map(|s| networks.get(&s).cloned()).map(Network).collect())
}

/// A migration network of National Societies (PERCO, APMN, Americas, Central Asia).
pub struct Network(pub model::Network);

#[Object]
impl Network {
    /// Global id.
    pub async fn id(&self) -> ID {
        ID(encode_id("Network", &self.0.slug))
    }
    /// Slug used in filters: `perco`, `apmn`, `americas`, `central-asia`.
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    /// Short name, e.g. `PERCO`.
    async fn short_name(&self) -> &str {
        &self.0.short_name
    }
    /// Full name in English.
    async fn name(&self) -> &str {
        &self.0.name_en
    }
    /// IFRC region.
    async fn region(&self) -> Option<scalars::IfrcRegion> {
        self.0.region.map(Into::into)
    }
    /// When it was founded, as its source gives it.
    async fn founded(&self) -> Option<&str> {
        self.0.founded.as_deref()
    }
    /// What it is.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Where this record comes from.
    async fn source(&self) -> Option<&str> {
        self.0.source.as_deref()
    }
    /// Members, observers and coordinators, each with the source that establishes it.
    async fn members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Membership>> {
        let r = request(ctx);
        let list = r.store.memberships(Some(&self.0.slug)).await.map_err(store_err)?;
        Ok(list.into_iter().map(Membership).collect())
    }
}

/// An organisation's membership in a network.
pub struct Membership(pub model::Membership);

#[Object]
impl Membership {
    /// The organisation.
    async fn organisation(&self, ctx: &Context<'_>) -> async_graphql::Result<Organisation> {
        organisation_of(ctx, &self.0.organisation).await
    }
    /// Its role.
    async fn role(&self) -> scalars::MemberRole {
        self.0.role.into()
    }
    /// The public source that establishes it, or who set it.
    async fn source(&self) -> Option<&str> {
        self.0.source.as_deref()
    }
}

/// A National Society, the IFRC, the ICRC or an external publisher.
pub struct Organisation(pub model::Organisation);

#[Object]
impl Organisation {
    /// Global id.
    pub async fn id(&self) -> ID {
        ID(encode_id("Organisation", &self.0.id.0))
    }
    /// Code: the country code for a society, `IFRC`, `ICRC`, or a publisher's slug.
    async fn code(&self) -> &str {
        &self.0.id.0
    }
    /// Kind.
    async fn kind(&self) -> scalars::OrganisationKind {
        self.0.kind.into()
    }
    /// Name in English.
    async fn name(&self) -> &str {
        &self.0.name_en
    }
    /// Name in its local or official language, where known.
    async fn local_name(&self) -> Option<&str> {
        self.0.name_local.as_deref()
    }
    /// BCP 47 tag of `localName`.
    async fn local_language(&self) -> Option<&str> {
        self.0.local_language.as_deref()
    }
    /// IFRC region (societies).
    async fn region(&self) -> Option<scalars::IfrcRegion> {
        self.0.region.map(Into::into)
    }
    /// Where this record comes from.
    async fn source(&self) -> Option<&str> {
        self.0.source.as_deref()
    }
    /// Networks it belongs to.
    async fn networks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Network>> {
        networks_of(ctx, &self.0.id).await
    }
}

/// A National Society: an organisation of kind SOCIETY, keyed by its country's code.
pub struct Society(pub model::Organisation);

#[Object]
impl Society {
    /// Global id (the same as its `Organisation` id).
    pub async fn id(&self) -> ID {
        ID(encode_id("Organisation", &self.0.id.0))
    }
    /// ISO 3166-1 alpha-2 code of its country.
    async fn code(&self) -> async_graphql::Result<CountryCode> {
        model::CountryCode::parse(&self.0.id.0).map(CountryCode).map_err(|e| coded("INTERNAL", e))
    }
    /// Name in English.
    async fn name(&self) -> &str {
        &self.0.name_en
    }
    /// Name in its local or official language, where known.
    async fn local_name(&self) -> Option<&str> {
        self.0.name_local.as_deref()
    }
    /// BCP 47 tag of `localName`.
    async fn local_language(&self) -> Option<&str> {
        self.0.local_language.as_deref()
    }
    /// IFRC region.
    async fn region(&self) -> Option<scalars::IfrcRegion> {
        self.0.region.map(Into::into)
    }
    /// Where this record comes from.
    async fn source(&self) -> Option<&str> {
        self.0.source.as_deref()
    }
    /// Networks it belongs to.
    async fn networks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Network>> {
        networks_of(ctx, &self.0.id).await
    }
}

/// A feed a society registered.
pub struct Feed(pub model::Feed);

#[Object]
impl Feed {
    /// Global id.
    pub async fn id(&self) -> ID {
        ID(encode_id("Feed", &self.0.id.to_string()))
    }
    /// Where it is fetched from.
    async fn url(&self) -> &str {
        self.0.url.as_str()
    }
    /// Its connector.
    async fn kind(&self) -> scalars::FeedKind {
        self.0.kind.into()
    }
    /// Its title, as the feed gives it.
    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }
    /// The organisation that owns it.
    async fn organisation(&self, ctx: &Context<'_>) -> async_graphql::Result<Organisation> {
        organisation_of(ctx, &self.0.organisation).await
    }
    /// When it was deleted (no longer listed or polled, its items withdrawn).
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.0.deleted_at
    }
    /// Who may see it and its items.
    async fn visibility(&self) -> scalars::Visibility {
        self.0.visibility.into()
    }
    /// How it is doing.
    async fn state(&self) -> scalars::FeedState {
        self.0.state.into()
    }
    /// Why the last attempt failed, in plain words (FAILING feeds).
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// Consecutive failures.
    async fn error_count(&self) -> i64 {
        self.0.error_count
    }
    /// When a FAILING feed is retried next.
    async fn next_retry_at(&self) -> Option<DateTime<Utc>> {
        (self.0.state == model::FeedState::Failing).then_some(self.0.next_check_at)
    }
    /// Seconds between polls when the source asks nothing else.
    async fn poll_interval_seconds(&self) -> i64 {
        self.0.poll_interval_secs
    }
    /// Category for items nothing else classifies.
    async fn default_category(&self) -> Option<scalars::Category> {
        self.0.default_category.map(Into::into)
    }
    /// Language assumed when neither declared nor detected.
    async fn default_language(&self) -> Option<&str> {
        self.0.default_language.as_deref()
    }
    /// Countries every item concerns.
    async fn default_countries(&self) -> Vec<CountryCode> {
        self.0.default_countries.iter().copied().map(CountryCode).collect()
    }
    /// Warnings from the last parse (odd dates, ambiguous country names, skipped rows with their
    /// line), in plain words.
    async fn last_warnings(&self) -> &[String] {
        &self.0.warnings
    }
    /// The same as `lastWarnings`.
    #[graphql(deprecation = "use lastWarnings")]
    async fn warnings(&self) -> &[String] {
        &self.0.warnings
    }
    /// When it was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// How an item was classified.
pub struct Classification<'a>(&'a model::Item);

#[Object]
impl Classification<'_> {
    /// The primary category.
    async fn category(&self) -> scalars::Category {
        self.0.category.into()
    }
    /// Every applicable category, primary first.
    async fn categories(&self) -> Vec<scalars::Category> {
        self.0.categories.iter().map(|c| (*c).into()).collect()
    }
    /// Where the decision came from.
    async fn source(&self) -> scalars::ClassificationSource {
        self.0.classification_source.into()
    }
    /// The rule terms or source tags that matched.
    async fn terms(&self) -> &[String] {
        &self.0.terms
    }
}

/// A country an item concerns.
pub struct CountryMention(model::CountryMention);

#[Object]
impl CountryMention {
    /// The country.
    async fn country(&self) -> CountryCode {
        CountryCode(self.0.code)
    }
    /// Its role in the item.
    async fn role(&self) -> scalars::CountryRole {
        self.0.role.into()
    }
    /// Its English name.
    async fn name(&self) -> Option<&str> {
        self.0.code.english_name()
    }
}

/// A number an item carries.
pub struct Figure(model::Figure);

#[Object]
impl Figure {
    /// What is counted.
    async fn measure(&self) -> &str {
        &self.0.measure
    }
    /// The value.
    async fn value(&self) -> f64 {
        self.0.value
    }
    /// Unit or currency.
    async fn unit(&self) -> Option<&str> {
        self.0.unit.as_deref()
    }
    /// The HXL tag it came from.
    async fn hxl_tag(&self) -> Option<&str> {
        self.0.hxl_tag.as_deref()
    }
    /// Disaggregation attributes.
    async fn disaggregation(&self) -> &[String] {
        &self.0.disaggregation
    }
}

/// Where an item came from when it reached this hub through another hub.
#[derive(SimpleObject)]
pub struct Provenance {
    /// The id of the hub that first imported it.
    pub origin_hub: String,
    /// The organisation that published it there (its code or id on that hub).
    pub origin_organisation: String,
    /// Its id on the origin hub.
    pub origin_id: String,
    /// Ids of the hubs it travelled through before this one, origin first.
    pub path: Vec<String>,
}

/// One entry of a source, normalised.
pub struct Item(pub model::Item);

#[Object]
impl Item {
    /// Global id (stable: the same entry always has the same id).
    pub async fn id(&self) -> ID {
        ID(encode_id("Item", &self.0.id.0))
    }
    /// Plain-text title.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Plain-text, sanitised summary.
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    /// Link to the entry on the publisher's site.
    async fn url(&self) -> Option<&str> {
        self.0.url.as_deref()
    }
    /// BCP 47 language tag, declared by the source or detected.
    async fn language(&self) -> Option<&str> {
        self.0.language.as_deref()
    }
    /// Writing direction of the text: `ltr` or `rtl` (for an HTML `dir` attribute).
    async fn direction(&self) -> &str {
        &self.0.direction
    }
    /// When it was published, as the source says.
    async fn published_at(&self) -> Option<DateTime<Utc>> {
        self.0.published_at
    }
    /// When it last changed at the source.
    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.0.updated_at
    }
    /// When the hub first saw it.
    async fn first_seen_at(&self) -> DateTime<Utc> {
        self.0.first_seen_at
    }
    /// When its source stopped publishing it (a snapshot feed's row gone from a complete fetch);
    /// `items` leaves withdrawn items out, `item`, `node` and `changes` still show them.
    async fn withdrawn_at(&self) -> Option<DateTime<Utc>> {
        self.0.withdrawn_at
    }
    /// Categories, their source and the matched terms.
    async fn classification(&self) -> Classification<'_> {
        Classification(&self.0)
    }
    /// Countries it concerns.
    async fn countries(&self) -> Vec<CountryMention> {
        self.0.countries.iter().cloned().map(CountryMention).collect()
    }
    /// The named migration route, e.g. "Central Mediterranean".
    async fn route(&self) -> Option<&str> {
        self.0.route.as_deref()
    }
    /// Numbers it carries.
    async fn figures(&self) -> Vec<Figure> {
        self.0.figures.iter().cloned().map(Figure).collect()
    }
    /// The organisation that published it.
    async fn organisation(&self, ctx: &Context<'_>) -> async_graphql::Result<Organisation> {
        organisation_of(ctx, &self.0.organisation).await
    }
    /// The feed it came from.
    async fn feed(&self, ctx: &Context<'_>) -> async_graphql::Result<Feed> {
        request(ctx)
            .loaders
            .feeds
            .load_one(self.0.feed)
            .await
            .map_err(load_error)?
            .map(Feed)
            .ok_or_else(|| coded("NOT_FOUND", "feed not found"))
    }
    /// Who may see it.
    async fn visibility(&self) -> scalars::Visibility {
        self.0.visibility.into()
    }
    /// 1 when created, bumped each time its content changes.
    async fn version(&self) -> i64 {
        self.0.version
    }
    /// The item of another feed that told the same story first (same link, or same title and
    /// summary): this one is left out of listings and notifications unless duplicates are asked for.
    async fn duplicate_of(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Item>> {
        let Some(first) = &self.0.duplicate_of else { return Ok(None) };
        Ok(request(ctx).loaders.items.load_one(first.clone()).await.map_err(load_error)?.map(Item))
    }
    /// Items of other feeds telling the same story, which were linked to this one (at most 20).
    async fn duplicates(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Item>> {
        let r = request(ctx);
        let filter = crate::store::ItemFilter { duplicates_of: Some(self.0.id.clone()), ..Default::default() };
        let page = crate::store::PageRequest { first: 20, after: None };
        let found = r
            .store
            .items_page(&r.scope, &filter, crate::store::ItemOrder::PublishedAsc, &page)
            .await
            .map_err(store_err)?;
        Ok(found.edges.into_iter().map(|(_, item)| Item(item)).collect())
    }
    /// Where it came from, when it reached this hub through another hub (null otherwise).
    async fn provenance(&self) -> Option<Provenance> {
        self.0.provenance.as_ref().map(|p| Provenance {
            origin_hub: p.origin_hub.clone(),
            origin_organisation: p.origin_organisation.clone(),
            origin_id: p.origin_id.clone(),
            path: p.path.clone(),
        })
    }
}

/// A row of the change log.
pub struct Change(pub model::Change, pub String, Option<Arc<model::Item>>);

impl Change {
    /// A change with its cursor; its item is loaded when asked for.
    pub fn new(change: model::Change, cursor: String) -> Change {
        Change(change, cursor, None)
    }

    /// A change whose item is already at hand (a subscription's event, checked for the viewer).
    pub fn with_item(change: model::Change, cursor: String, item: Arc<model::Item>) -> Change {
        Change(change, cursor, Some(item))
    }
}

#[Object]
impl Change {
    /// Opaque cursor: resume after this change with `changes(after:)`.
    async fn cursor(&self) -> &str {
        &self.1
    }
    /// Strictly increasing, in commit order.
    async fn sequence(&self) -> i64 {
        self.0.sequence
    }
    /// What happened.
    async fn kind(&self) -> scalars::ChangeKind {
        self.0.kind.into()
    }
    /// When.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// From a feed's first import.
    async fn backfill(&self) -> bool {
        self.0.backfill
    }
    /// The item's version after this change.
    async fn version(&self) -> i64 {
        self.0.version
    }
    /// The item, as it is now (in a subscription: as it was when the change was announced).
    async fn item(&self, ctx: &Context<'_>) -> async_graphql::Result<Item> {
        if let Some(item) = &self.2 {
            return Ok(Item(model::Item::clone(item)));
        }
        request(ctx)
            .loaders
            .items
            .load_one(self.0.item.clone())
            .await
            .map_err(load_error)?
            .map(Item)
            .ok_or_else(|| coded("NOT_FOUND", "item not found"))
    }
}

/// One entry of the audit log.
pub struct AuditEntry(pub model::AuditEntry);

#[Object]
impl AuditEntry {
    /// When.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// Who: `token 3 (French focal point)`, or `operator (command line)`.
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    /// What: `registerFeed`, `pauseFeed`, `resumeFeed`, `deleteFeed`, `createToken`, `revokeToken`.
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// On what: `feed 12`, `token 4`.
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    /// More about it (the URL, the role).
    async fn detail(&self) -> &str {
        &self.0.detail
    }
}

/// An API token, as admins see it: never its secret.
pub struct Token(pub model::Token);

#[Object]
impl Token {
    /// Its id (for `revokeToken`).
    async fn id(&self) -> i64 {
        self.0.id.0
    }
    /// What it is for.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Its role.
    async fn role(&self) -> scalars::TokenRole {
        self.0.role.into()
    }
    /// The organisation a MEMBER token acts for.
    async fn organisation(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Organisation>> {
        match &self.0.organisation {
            Some(org) => organisation_of(ctx, org).await.map(Some),
            None => Ok(None),
        }
    }
    /// The networks a READER token is limited to (empty: all).
    async fn networks(&self) -> &[String] {
        &self.0.networks
    }
    /// The secret's first characters, to tell tokens apart.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When it was revoked, if it was.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// Who the request is made as.
pub struct Viewer(pub model::Viewer);

#[Object]
impl Viewer {
    /// The viewer's role.
    async fn role(&self) -> scalars::ViewerRole {
        match &self.0 {
            model::Viewer::Anonymous => scalars::ViewerRole::Anonymous,
            model::Viewer::Token { token, .. } => match token.role {
                model::TokenRole::Admin => scalars::ViewerRole::Admin,
                model::TokenRole::Member => scalars::ViewerRole::Member,
                model::TokenRole::Reader => scalars::ViewerRole::Reader,
            },
        }
    }
    /// The organisation a MEMBER token acts for (null otherwise).
    async fn organisation(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Organisation>> {
        let model::Viewer::Token { token: model::Token { organisation: Some(org), .. }, .. } = &self.0 else {
            return Ok(None);
        };
        organisation_of(ctx, org).await.map(Some)
    }
    /// The token's name (null when anonymous).
    async fn token_name(&self) -> Option<&str> {
        match &self.0 {
            model::Viewer::Token { token, .. } => Some(&token.name),
            model::Viewer::Anonymous => None,
        }
    }
    /// The networks whose NETWORK items the viewer reads: a MEMBER's organisation's networks, a
    /// READER's own (empty for a READER of every network, for admins and for the anonymous).
    async fn networks(&self) -> &[String] {
        match &self.0 {
            model::Viewer::Token { token, organisation_networks } if token.role == model::TokenRole::Member => {
                organisation_networks
            }
            model::Viewer::Token { token, .. } => &token.networks,
            model::Viewer::Anonymous => &[],
        }
    }
}

/// Organisations filtered as `organisations(kind, network)` asks.
pub fn org_filter(
    kind: Option<scalars::OrganisationKind>,
    network: Option<String>,
    region: Option<scalars::IfrcRegion>,
) -> OrgFilter {
    OrgFilter { kind: kind.map(Into::into), network, region: region.map(Into::into) }
}

/// A total of one measure over the items of one group, in one unit: totals in different units
/// (people, USD) are separate buckets, never added together.
pub struct FigureBucket(pub model::FigureBucket);

#[Object]
impl FigureBucket {
    /// The group's country, when grouped by COUNTRY (null for items that name none).
    async fn country(&self) -> Option<CountryCode> {
        self.0.country.map(CountryCode)
    }
    /// The group's month (`2026-10`), when grouped by MONTH.
    async fn month(&self) -> Option<&str> {
        self.0.month.as_deref()
    }
    /// The group's route, when grouped by ROUTE.
    async fn route(&self) -> Option<&str> {
        self.0.route.as_deref()
    }
    /// The group's primary category, when grouped by CATEGORY.
    async fn category(&self) -> Option<scalars::Category> {
        self.0.category.map(Into::into)
    }
    /// Unit or currency of the total.
    async fn unit(&self) -> Option<&str> {
        self.0.unit.as_deref()
    }
    /// The sum of the measure's values.
    async fn total(&self) -> f64 {
        self.0.total
    }
    /// How many items contributed.
    async fn items(&self) -> i64 {
        self.0.items
    }
}
