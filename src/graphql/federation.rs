//! Apollo Federation v2: the hub as a subgraph of a wider graph. Network, Society, Feed and Item
//! are entities keyed by their global `id` (a Society also by its `code`); a gateway resolves
//! them through `_entities`, which goes through the same loaders, and so the same access filter,
//! as every other read: an entity the viewer may not see resolves to null.

use async_graphql::{Context, Object, ID};

use super::error::coded;
use super::ids::decode_id_of;
use super::request;
use super::scalars::CountryCode;
use super::types::{Feed, Item, Network, Society};
use crate::model::{FeedId, ItemId, OrgId, OrgKind};

/// The entity resolvers (`_entities`); they add no field of their own to the query root.
#[derive(Default)]
pub struct EntityQuery;

type Loaded<T> = async_graphql::Result<Option<T>>;

fn loader_error(e: &std::sync::Arc<crate::store::StoreError>) -> async_graphql::Error {
    tracing::error!(error = %e, "loader failed");
    coded("INTERNAL", "internal error")
}

#[Object]
impl EntityQuery {
    /// A network by its global id.
    #[graphql(entity)]
    async fn find_network_by_id(&self, ctx: &Context<'_>, id: ID) -> Loaded<Network> {
        let Some(slug) = decode_id_of("Network", &id) else { return Ok(None) };
        let network = request(ctx).loaders.networks.load_one(slug).await.map_err(|e| loader_error(&e))?;
        Ok(network.map(Network))
    }

    /// A National Society by its global id.
    #[graphql(entity)]
    async fn find_society_by_id(&self, ctx: &Context<'_>, id: ID) -> Loaded<Society> {
        let Some(raw) = decode_id_of("Organisation", &id) else { return Ok(None) };
        society(ctx, OrgId(raw)).await
    }

    /// A National Society by its country's code.
    #[graphql(entity)]
    async fn find_society_by_code(&self, ctx: &Context<'_>, code: CountryCode) -> Loaded<Society> {
        society(ctx, OrgId(code.0.to_string())).await
    }

    /// A feed by its global id.
    #[graphql(entity)]
    async fn find_feed_by_id(&self, ctx: &Context<'_>, id: ID) -> Loaded<Feed> {
        let Some(n) = decode_id_of("Feed", &id).and_then(|raw| raw.parse().ok()) else { return Ok(None) };
        let feed = request(ctx).loaders.feeds.load_one(FeedId(n)).await.map_err(|e| loader_error(&e))?;
        Ok(feed.map(Feed))
    }

    /// An item by its global id.
    #[graphql(entity)]
    async fn find_item_by_id(&self, ctx: &Context<'_>, id: ID) -> Loaded<Item> {
        let Some(raw) = decode_id_of("Item", &id) else { return Ok(None) };
        let item = request(ctx).loaders.items.load_one(ItemId(raw)).await.map_err(|e| loader_error(&e))?;
        Ok(item.map(Item))
    }
}

async fn society(ctx: &Context<'_>, id: OrgId) -> Loaded<Society> {
    let org = request(ctx).loaders.orgs.load_one(id).await.map_err(|e| loader_error(&e))?;
    Ok(org.filter(|o| o.kind == OrgKind::Society).map(Society))
}
