//! The query root: the read API of DESIGN.md. Resolvers turn arguments into store filters and
//! hand the request's scope to the store; no SQL here.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, InputObject, Interface, Object, ID};
use chrono::{DateTime, Utc};

use super::error::{bad_input, coded, store as store_err};
use super::ids::{decode_cursor, decode_id, decode_id_of, encode_cursor};
use super::scalars::{self, CountryCode};
use super::types::{
    org_filter, AuditEntry, Change, Feed, FigureBucket, Item, Network, Organisation, Society, TotalCount, Viewer,
};
use super::{request, Request};
use crate::model::{self, FeedId, ItemId, OrgId, OrgKind};
use crate::store::{self, PageRequest, SearchQuery};

/// Largest page a connection returns.
pub const MAX_PAGE: i32 = 100;

/// A page of items.
pub type ItemConnection = Connection<String, Item, TotalCount>;
/// A page of feeds.
pub type FeedConnection = Connection<String, Feed, TotalCount>;
/// A page of changes.
pub type ChangeConnection = Connection<String, Change, TotalCount>;
/// The audit log, newest first.
pub type AuditEntryConnection = Connection<String, AuditEntry, TotalCount>;

/// Filters on items; every list matches any of its values, and filters combine with AND.
#[derive(InputObject, Default)]
pub struct ItemFilter {
    /// Network slugs: items of feeds owned by their members, observers and coordinators.
    networks: Option<Vec<String>>,
    /// Owning organisations (global ids).
    organisations: Option<Vec<ID>>,
    /// Owning National Societies, by country code.
    societies: Option<Vec<CountryCode>>,
    /// Countries the item concerns.
    countries: Option<Vec<CountryCode>>,
    /// Categories (any of the item's categories).
    categories: Option<Vec<scalars::Category>>,
    /// Language tags; `fr` also matches `fr-CA`.
    languages: Option<Vec<String>>,
    /// Feeds (global ids).
    feeds: Option<Vec<ID>>,
    /// Published at or after.
    published_since: Option<DateTime<Utc>>,
    /// Published before.
    published_before: Option<DateTime<Utc>>,
    /// Full-text search: words, "quoted phrases", OR, -exclusion, and word* for a prefix.
    search: Option<String>,
    /// Include items that duplicate another feed's item (the same story, told first there).
    #[graphql(default = false)]
    include_duplicates: bool,
}

/// Filters on the change log.
#[derive(InputObject, Default)]
pub struct ChangeFilter {
    /// Network slugs.
    networks: Option<Vec<String>>,
    /// Owning National Societies.
    societies: Option<Vec<CountryCode>>,
    /// Countries.
    countries: Option<Vec<CountryCode>>,
    /// Categories (route and regulatory changes are what most dashboards follow).
    categories: Option<Vec<scalars::Category>>,
    /// Languages of the items (BCP 47; `fr` also matches `fr-CA`).
    languages: Option<Vec<String>>,
    /// Change kinds.
    kinds: Option<Vec<scalars::ChangeKind>>,
    /// Include changes from feeds' first imports.
    #[graphql(default = false)]
    include_backfill: bool,
    /// Include changes to items that duplicate another feed's item (the same story, told first
    /// there).
    #[graphql(default = false)]
    include_duplicates: bool,
}

/// The newest changes, newest first, and where to follow on from.
#[derive(async_graphql::SimpleObject)]
pub struct LatestChanges {
    /// The changes, newest first.
    nodes: Vec<Change>,
    /// The cursor to start the `changes` subscription after (`after:`): the change log's head
    /// when this was read.
    resume_after: String,
    /// The cursor to pass as `before` for the next older changes; null when there are none.
    older_before: Option<String>,
}

/// Filters on feeds.
#[derive(InputObject, Default)]
pub struct FeedFilter {
    /// Owning organisations (global ids).
    organisations: Option<Vec<ID>>,
    /// Owning National Societies.
    societies: Option<Vec<CountryCode>>,
    /// States.
    states: Option<Vec<scalars::FeedState>>,
    /// Network slugs.
    networks: Option<Vec<String>>,
}

/// Anything with a global id.
#[derive(Interface)]
#[graphql(name = "Node", field(name = "id", ty = "ID", desc = "Global id."))]
pub enum NodeValue {
    /// An item.
    Item(Item),
    /// A feed.
    Feed(Feed),
    /// A network.
    Network(Network),
    /// A National Society.
    Society(Society),
    /// Any other organisation.
    Organisation(Organisation),
}

fn page_request(first: i32, after: Option<String>, connection: &str) -> async_graphql::Result<PageRequest> {
    if !(0..=MAX_PAGE).contains(&first) {
        return Err(bad_input(format!("`first` must be between 0 and {MAX_PAGE}")));
    }
    let after = match after {
        Some(c) => {
            Some(decode_cursor(connection, &c).ok_or_else(|| bad_input("`after` is not a cursor of this connection"))?)
        }
        None => None,
    };
    Ok(PageRequest { first: first as usize, after })
}

fn org_ids(ids: Option<Vec<ID>>) -> async_graphql::Result<Vec<OrgId>> {
    ids.unwrap_or_default()
        .iter()
        .map(|id| {
            decode_id_of("Organisation", id)
                .map(OrgId)
                .ok_or_else(|| bad_input(format!("`{}` is not an organisation id", id.0)))
        })
        .collect()
}

fn feed_ids(ids: Option<Vec<ID>>) -> async_graphql::Result<Vec<FeedId>> {
    ids.unwrap_or_default()
        .iter()
        .map(|id| {
            decode_id_of("Feed", id)
                .and_then(|raw| raw.parse().ok())
                .map(FeedId)
                .ok_or_else(|| bad_input(format!("`{}` is not a feed id", id.0)))
        })
        .collect()
}

fn codes(list: Option<Vec<CountryCode>>) -> Vec<model::CountryCode> {
    list.unwrap_or_default().into_iter().map(|c| c.0).collect()
}

fn categories(list: Option<Vec<scalars::Category>>) -> Vec<model::Category> {
    list.unwrap_or_default().into_iter().map(Into::into).collect()
}

impl ChangeFilter {
    /// The store's form of the filter; BAD_USER_INPUT for a language that is not a tag.
    pub(super) fn into_store(self) -> async_graphql::Result<store::ChangeFilter> {
        Ok(store::ChangeFilter {
            networks: self.networks.unwrap_or_default(),
            societies: codes(self.societies),
            countries: codes(self.countries),
            categories: categories(self.categories),
            languages: language_tags(self.languages)?,
            kinds: self.kinds.unwrap_or_default().into_iter().map(Into::into).collect(),
            include_backfill: self.include_backfill,
            since: None,
            include_duplicates: self.include_duplicates,
        })
    }
}

/// Language tags in their canonical form; BAD_USER_INPUT for one that is not a tag.
fn language_tags(tags: Option<Vec<String>>) -> async_graphql::Result<Vec<String>> {
    tags.unwrap_or_default()
        .iter()
        .map(|l| connectors::lang::canonical_tag(l).ok_or_else(|| bad_input(format!("`{l}` is not a language tag"))))
        .collect()
}

impl ItemFilter {
    fn into_store(self) -> async_graphql::Result<store::ItemFilter> {
        let search = match self.search.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => Some(SearchQuery::parse(text).map_err(|e| bad_input(e.to_string()))?),
            _ => None,
        };
        let languages = language_tags(self.languages)?;
        Ok(store::ItemFilter {
            networks: self.networks.unwrap_or_default(),
            organisations: org_ids(self.organisations)?,
            societies: codes(self.societies),
            countries: codes(self.countries),
            categories: categories(self.categories),
            languages,
            feeds: feed_ids(self.feeds)?,
            published_since: self.published_since,
            published_before: self.published_before,
            search,
            include_duplicates: self.include_duplicates,
            duplicates_of: None,
        })
    }
}

/// The query root: the read API here, webhooks in `webhooks.rs`.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(ReadQuery, super::webhooks::WebhookQuery, super::federation::EntityQuery);

/// The read API.
#[derive(Default)]
pub struct ReadQuery;

#[Object]
impl ReadQuery {
    /// This hub: its id, which hubs that follow it record in the provenance of what they read.
    async fn hub(&self, ctx: &Context<'_>) -> super::HubIdentity {
        ctx.data_unchecked::<super::HubIdentity>().clone()
    }

    /// All networks.
    async fn networks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Network>> {
        let networks = request(ctx).store.networks().await.map_err(store_err)?;
        Ok(networks.into_iter().map(Network).collect())
    }

    /// One network by slug (`perco`, `apmn`, `americas`, `central-asia`).
    async fn network(&self, ctx: &Context<'_>, slug: String) -> async_graphql::Result<Option<Network>> {
        let networks = request(ctx).store.networks().await.map_err(store_err)?;
        Ok(networks.into_iter().find(|n| n.slug == slug).map(Network))
    }

    /// Organisations, optionally of one kind or members of one network.
    async fn organisations(
        &self,
        ctx: &Context<'_>,
        kind: Option<scalars::OrganisationKind>,
        network: Option<String>,
    ) -> async_graphql::Result<Vec<Organisation>> {
        let orgs = request(ctx).store.organisations(&org_filter(kind, network, None)).await.map_err(store_err)?;
        Ok(orgs.into_iter().map(Organisation).collect())
    }

    /// National Societies, optionally of one network or IFRC region.
    async fn societies(
        &self,
        ctx: &Context<'_>,
        network: Option<String>,
        region: Option<scalars::IfrcRegion>,
    ) -> async_graphql::Result<Vec<Society>> {
        let filter = org_filter(Some(scalars::OrganisationKind::Society), network, region);
        let orgs = request(ctx).store.organisations(&filter).await.map_err(store_err)?;
        Ok(orgs.into_iter().map(Society).collect())
    }

    /// One National Society by its country's code (alpha-2 or alpha-3).
    async fn society(&self, ctx: &Context<'_>, code: CountryCode) -> async_graphql::Result<Option<Society>> {
        let orgs = request(ctx).store.organisations_by_ids(&[OrgId(code.0.to_string())]).await.map_err(store_err)?;
        Ok(orgs.into_iter().find(|o| o.kind == OrgKind::Society).map(Society))
    }

    /// Registered feeds, by id.
    #[graphql(complexity = "(first.max(0) as usize) * child_complexity + 1")]
    async fn feeds(
        &self,
        ctx: &Context<'_>,
        first: i32,
        after: Option<String>,
        filter: Option<FeedFilter>,
    ) -> async_graphql::Result<FeedConnection> {
        let r = request(ctx);
        let page = page_request(first, after, "feeds")?;
        let f = filter.unwrap_or_default();
        let mut organisations = org_ids(f.organisations)?;
        organisations.extend(codes(f.societies).into_iter().map(|c| OrgId(c.to_string())));
        let filter = store::FeedFilter {
            organisations,
            states: f.states.unwrap_or_default().into_iter().map(Into::into).collect(),
            networks: f.networks.unwrap_or_default(),
        };
        let result = r.store.feeds_page(&r.scope, &filter, &page).await.map_err(store_err)?;
        let mut connection = Connection::with_additional_fields(
            page.after.is_some(),
            result.has_next_page,
            TotalCount { total_count: result.total_count },
        );
        connection.edges.extend(result.edges.into_iter().map(|(c, f)| Edge::new(encode_cursor("feeds", &c), Feed(f))));
        Ok(connection)
    }

    /// One feed by id.
    async fn feed(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Feed>> {
        let ids = feed_ids(Some(vec![id]))?;
        let feed = request(ctx).loaders.feeds.load_one(ids[0]).await.map_err(|e| store_err_arc(&e))?;
        Ok(feed.map(Feed))
    }

    /// Items, newest first unless `orderBy` says otherwise.
    #[graphql(complexity = "(first.max(0) as usize) * child_complexity + 1")]
    async fn items(
        &self,
        ctx: &Context<'_>,
        first: i32,
        after: Option<String>,
        filter: Option<ItemFilter>,
        order_by: Option<scalars::ItemOrder>,
    ) -> async_graphql::Result<ItemConnection> {
        let r = request(ctx);
        let page = page_request(first, after, "items")?;
        let filter = filter.unwrap_or_default().into_store()?;
        let order = order_by.unwrap_or_default().into();
        // Counting every match costs more than the page on a large hub: only when asked.
        let result = if ctx.look_ahead().field("totalCount").exists() {
            r.store.items_page(&r.scope, &filter, order, &page).await
        } else {
            r.store.items_page_uncounted(&r.scope, &filter, order, &page).await
        }
        .map_err(store_err)?;
        prefetch_for_items(ctx, result.edges.iter().map(|(_, i)| i)).await?;
        let mut connection = Connection::with_additional_fields(
            page.after.is_some(),
            result.has_next_page,
            TotalCount { total_count: result.total_count },
        );
        connection.edges.extend(result.edges.into_iter().map(|(c, i)| Edge::new(encode_cursor("items", &c), Item(i))));
        Ok(connection)
    }

    /// One item by id.
    async fn item(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Item>> {
        let raw = decode_id_of("Item", &id).ok_or_else(|| bad_input(format!("`{}` is not an item id", id.0)))?;
        let item = request(ctx).loaders.items.load_one(ItemId(raw)).await.map_err(|e| store_err_arc(&e))?;
        Ok(item.map(Item))
    }

    /// Anything by its global id.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<NodeValue>> {
        let r: &Request = request(ctx);
        let Some((kind, raw)) = decode_id(&id) else {
            return Err(bad_input(format!("`{}` is not a global id", id.0)));
        };
        let node = match kind.as_str() {
            "Item" => r
                .loaders
                .items
                .load_one(ItemId(raw))
                .await
                .map_err(|e| store_err_arc(&e))?
                .map(|i| NodeValue::Item(Item(i))),
            "Feed" => match raw.parse() {
                Ok(n) => r
                    .loaders
                    .feeds
                    .load_one(FeedId(n))
                    .await
                    .map_err(|e| store_err_arc(&e))?
                    .map(|f| NodeValue::Feed(Feed(f))),
                Err(_) => None,
            },
            "Network" => r
                .loaders
                .networks
                .load_one(raw)
                .await
                .map_err(|e| store_err_arc(&e))?
                .map(|n| NodeValue::Network(Network(n))),
            "Organisation" => r.loaders.orgs.load_one(OrgId(raw)).await.map_err(|e| store_err_arc(&e))?.map(|o| {
                if o.kind == OrgKind::Society {
                    NodeValue::Society(Society(o))
                } else {
                    NodeValue::Organisation(Organisation(o))
                }
            }),
            _ => None,
        };
        Ok(node)
    }

    /// Totals of one measure (`affected`, `arrivals`, …) over the items matching `filter`, for
    /// dashboards: grouped by any of country, month, route and category, and always by unit.
    /// `breakdown` picks figures broken down by exactly those sex and age attributes (`["f"]`,
    /// `["children"]`); without it, the totals, so a breakdown is never added to its total.
    /// Only items the viewer may see count; withdrawn items do not.
    async fn figures(
        &self,
        ctx: &Context<'_>,
        filter: Option<ItemFilter>,
        measure: String,
        #[graphql(default)] breakdown: Vec<String>,
        group_by: Vec<scalars::FigureGroup>,
    ) -> async_graphql::Result<Vec<FigureBucket>> {
        let r = request(ctx);
        let filter = filter.unwrap_or_default().into_store()?;
        let group_by: Vec<model::FigureGroup> = group_by.into_iter().map(Into::into).collect();
        let breakdown: Vec<String> =
            breakdown.iter().map(|a| a.trim().trim_start_matches('+').to_ascii_lowercase()).collect();
        let buckets =
            r.store.figure_totals(&r.scope, &filter, measure.trim(), &breakdown, &group_by).await.map_err(store_err)?;
        Ok(buckets.into_iter().map(FigureBucket).collect())
    }

    /// The change log in commit order: resume with the last cursor you saw, and no change is
    /// skipped or repeated. Backfill (feeds' first imports) only with `includeBackfill`.
    #[graphql(complexity = "(first.max(0) as usize) * child_complexity + 1")]
    async fn changes(
        &self,
        ctx: &Context<'_>,
        first: i32,
        after: Option<String>,
        filter: Option<ChangeFilter>,
    ) -> async_graphql::Result<ChangeConnection> {
        let r = request(ctx);
        let page = page_request(first, after, "changes")?;
        let filter = filter.unwrap_or_default().into_store()?;
        let result = r.store.changes_page(&r.scope, &filter, &page).await.map_err(store_err)?;
        let mut connection = Connection::with_additional_fields(
            page.after.is_some(),
            result.has_next_page,
            TotalCount { total_count: result.total_count },
        );
        connection.edges.extend(result.edges.into_iter().map(|(c, change)| {
            let cursor = encode_cursor("changes", &c);
            Edge::new(cursor.clone(), Change::new(change, cursor))
        }));
        Ok(connection)
    }

    /// The newest changes matching `filter`, newest first: at most `first` (up to 100), older
    /// than the cursor `before` when given. For a page that shows the latest changes and then
    /// follows new ones: `resumeAfter` is where to start the `changes` subscription (the log's
    /// head when this was read, so a change committed meanwhile is sent there, not missed, and
    /// none listed here is sent again).
    async fn latest_changes(
        &self,
        ctx: &Context<'_>,
        first: i32,
        before: Option<String>,
        filter: Option<ChangeFilter>,
    ) -> async_graphql::Result<LatestChanges> {
        if !(0..=MAX_PAGE).contains(&first) {
            return Err(bad_input(format!("`first` must be between 0 and {MAX_PAGE}")));
        }
        let r = request(ctx);
        let filter = filter.unwrap_or_default().into_store()?;
        // The head first, then the changes up to it: read the other way round, a change committed
        // between the two reads would be in neither.
        let head = r.store.change_head().await.map_err(store_err)?;
        let before = match before {
            Some(cursor) => super::decode_change_cursor(&cursor, "before")?,
            None => head + 1,
        };
        let limit = first as usize;
        let changes =
            r.store.latest_changes(&r.scope, &filter, Some(before.min(head + 1)), limit).await.map_err(store_err)?;
        let older_before = match changes.last() {
            Some(last) if changes.len() == limit => Some(super::encode_change_cursor(last.sequence)),
            _ => None,
        };
        Ok(LatestChanges {
            nodes: changes
                .into_iter()
                .map(|c| {
                    let cursor = super::encode_change_cursor(c.sequence);
                    Change::new(c, cursor)
                })
                .collect(),
            resume_after: super::encode_change_cursor(head),
            older_before,
        })
    }

    /// What changed in a network from `since` until now: counts by category and country and the
    /// most significant changes (also as an Atom feed: `/feeds/digest.atom?network=…&period=week`).
    async fn digest(
        &self,
        ctx: &Context<'_>,
        network: String,
        since: DateTime<Utc>,
    ) -> async_graphql::Result<super::digest::Digest> {
        let r = request(ctx);
        let until = Utc::now();
        if since > until {
            return Err(bad_input("`since` is in the future"));
        }
        let networks = r.store.networks().await.map_err(store_err)?;
        let Some(found) = networks.into_iter().find(|n| n.slug == network) else {
            return Err(coded("NOT_FOUND", format!("no network `{network}`")));
        };
        let digest =
            crate::digest::digest(r.store.as_ref(), &r.scope, &network, since, until).await.map_err(store_err)?;
        Ok(super::digest::Digest(digest, Network(found)))
    }

    /// The RSS, Atom and JSON Feed feeds of a network, of an organisation, or all that the viewer
    /// may see, as an OPML 2.0 document for feed readers.
    async fn opml(
        &self,
        ctx: &Context<'_>,
        network: Option<String>,
        organisation: Option<ID>,
    ) -> async_graphql::Result<String> {
        let r = request(ctx);
        let filter = store::FeedFilter {
            organisations: org_ids(organisation.map(|o| vec![o]))?,
            states: Vec::new(),
            networks: network.iter().cloned().collect(),
        };
        let mut feeds = Vec::new();
        let mut after = None;
        loop {
            let page = PageRequest { first: MAX_PAGE as usize, after };
            let result = r.store.feeds_page(&r.scope, &filter, &page).await.map_err(store_err)?;
            after = result.edges.last().map(|(c, _)| c.clone());
            feeds.extend(
                result
                    .edges
                    .into_iter()
                    .filter(|(_, f)| f.kind == model::FeedKind::Rss)
                    .map(|(_, f)| (f.url.as_str().to_string(), f.title)),
            );
            if !result.has_next_page {
                break;
            }
        }
        let title = match (&network, &filter.organisations.first()) {
            (Some(n), _) => format!("Tributary: feeds of the {n} network"),
            (None, Some(o)) => format!("Tributary: feeds of {o}"),
            (None, None) => "Tributary: feeds".to_string(),
        };
        Ok(connectors::opml::write(&title, &feeds))
    }

    /// Who registered, changed, paused or deleted what, and which tokens were created and revoked;
    /// newest first. Admins only.
    #[graphql(complexity = "(first.max(0) as usize) * child_complexity + 1")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: i32,
        after: Option<String>,
    ) -> async_graphql::Result<AuditEntryConnection> {
        let r = request(ctx);
        match &r.viewer {
            model::Viewer::Anonymous => return Err(coded("UNAUTHENTICATED", "the audit log needs an ADMIN token")),
            model::Viewer::Token { token, .. } if token.role != model::TokenRole::Admin => {
                return Err(coded("FORBIDDEN", "the audit log is for ADMIN tokens"))
            }
            model::Viewer::Token { .. } => {}
        }
        let page = page_request(first, after, "audit")?;
        let result = r.store.audit_page(&page).await.map_err(store_err)?;
        let mut connection = Connection::with_additional_fields(
            page.after.is_some(),
            result.has_next_page,
            TotalCount { total_count: result.total_count },
        );
        connection
            .edges
            .extend(result.edges.into_iter().map(|(c, e)| Edge::new(encode_cursor("audit", &c), AuditEntry(e))));
        Ok(connection)
    }

    /// Who this request is made as.
    async fn viewer(&self, ctx: &Context<'_>) -> Viewer {
        Viewer(request(ctx).viewer.clone())
    }
}

/// Loads, in one batch each, the organisations and feeds a page of items will ask for, when the
/// query selects them: a page then costs the same number of store queries whatever its size, and
/// does not depend on how the executor happens to interleave field resolution.
async fn prefetch_for_items<'a>(
    ctx: &Context<'_>,
    items: impl Iterator<Item = &'a model::Item> + Clone,
) -> async_graphql::Result<()> {
    let look = ctx.look_ahead();
    let selects = |field: &str| {
        look.field("nodes").field(field).exists() || look.field("edges").field("node").field(field).exists()
    };
    let r = request(ctx);
    if selects("organisation") {
        let mut orgs: Vec<OrgId> = items.clone().map(|i| i.organisation.clone()).collect();
        orgs.sort();
        orgs.dedup();
        r.loaders.orgs.load_many(orgs).await.map_err(|e| store_err_arc(&e))?;
    }
    if selects("feed") {
        let mut feeds: Vec<FeedId> = items.map(|i| i.feed).collect();
        feeds.sort();
        feeds.dedup();
        r.loaders.feeds.load_many(feeds).await.map_err(|e| store_err_arc(&e))?;
    }
    Ok(())
}

fn store_err_arc(e: &std::sync::Arc<crate::store::StoreError>) -> async_graphql::Error {
    tracing::error!(error = %e, "loader failed");
    super::error::coded("INTERNAL", "internal error")
}
