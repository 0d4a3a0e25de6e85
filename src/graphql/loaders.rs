//! DataLoaders, so a page of items with their organisation and feed costs a constant number of
//! store queries. They are built per request with the request's scope, so batching never mixes
//! what different viewers may see.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};

use crate::access::Scope;
use crate::model::{Feed, FeedId, Item, ItemId, Membership, Network, OrgId, Organisation};
use crate::store::Store;

/// Loader errors are shared between the fields that awaited the same batch.
pub type LoadError = Arc<crate::store::StoreError>;

/// Organisations by id (organisations are public).
pub struct OrgLoader(pub Arc<dyn Store>);

/// Feeds by id, within a scope.
pub struct FeedLoader(pub Arc<dyn Store>, pub Scope);

/// Items by id, within a scope.
pub struct ItemLoader(pub Arc<dyn Store>, pub Scope);

impl Loader<OrgId> for OrgLoader {
    type Value = Organisation;
    type Error = LoadError;

    async fn load(&self, keys: &[OrgId]) -> Result<HashMap<OrgId, Organisation>, LoadError> {
        let orgs = self.0.organisations_by_ids(keys).await.map_err(Arc::new)?;
        Ok(orgs.into_iter().map(|o| (o.id.clone(), o)).collect())
    }
}

impl Loader<FeedId> for FeedLoader {
    type Value = Feed;
    type Error = LoadError;

    async fn load(&self, keys: &[FeedId]) -> Result<HashMap<FeedId, Feed>, LoadError> {
        let feeds = self.0.feeds_by_ids(&self.1, keys).await.map_err(Arc::new)?;
        Ok(feeds.into_iter().map(|f| (f.id, f)).collect())
    }
}

impl Loader<ItemId> for ItemLoader {
    type Value = Item;
    type Error = LoadError;

    async fn load(&self, keys: &[ItemId]) -> Result<HashMap<ItemId, Item>, LoadError> {
        let items = self.0.items_by_ids(&self.1, keys).await.map_err(Arc::new)?;
        Ok(items.into_iter().map(|i| (i.id.clone(), i)).collect())
    }
}

/// Memberships of organisations (one query for the whole batch).
pub struct MembershipLoader(pub Arc<dyn Store>);

/// Networks by slug (one query for the whole batch).
pub struct NetworkLoader(pub Arc<dyn Store>);

impl Loader<OrgId> for MembershipLoader {
    type Value = Vec<Membership>;
    type Error = LoadError;

    async fn load(&self, keys: &[OrgId]) -> Result<HashMap<OrgId, Vec<Membership>>, LoadError> {
        let mut out: HashMap<OrgId, Vec<Membership>> = keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for m in self.0.memberships(None).await.map_err(Arc::new)? {
            if let Some(list) = out.get_mut(&m.organisation) {
                list.push(m);
            }
        }
        Ok(out)
    }
}

impl Loader<String> for NetworkLoader {
    type Value = Network;
    type Error = LoadError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Network>, LoadError> {
        let networks = self.0.networks().await.map_err(Arc::new)?;
        Ok(networks.into_iter().filter(|n| keys.contains(&n.slug)).map(|n| (n.slug.clone(), n)).collect())
    }
}

/// A loader that remembers what it loaded for the rest of the request.
pub type Cached<T> = DataLoader<T, HashMapCache>;

/// The loaders of one request. Each caches for the request only, so a value prefetched for a
/// page is not fetched again by the fields that use it.
pub struct Loaders {
    /// Organisations.
    pub orgs: Cached<OrgLoader>,
    /// Feeds.
    pub feeds: Cached<FeedLoader>,
    /// Items.
    pub items: Cached<ItemLoader>,
    /// Memberships by organisation.
    pub memberships: Cached<MembershipLoader>,
    /// Networks by slug.
    pub networks: Cached<NetworkLoader>,
}

fn cached<T: Loader<K>, K: Send + Sync + std::hash::Hash + Eq + Clone + 'static>(loader: T) -> Cached<T> {
    DataLoader::with_cache(loader, tokio::spawn, HashMapCache::default())
}

impl Loaders {
    /// Loaders for one request.
    pub fn new(store: &Arc<dyn Store>, scope: &Scope) -> Loaders {
        Loaders {
            orgs: cached(OrgLoader(Arc::clone(store))),
            feeds: cached(FeedLoader(Arc::clone(store), scope.clone())),
            items: cached(ItemLoader(Arc::clone(store), scope.clone())),
            memberships: cached(MembershipLoader(Arc::clone(store))),
            networks: cached(NetworkLoader(Arc::clone(store))),
        }
    }
}
