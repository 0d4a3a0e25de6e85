//! `classifyItem`: a person corrects an item's classification. The correction (source MANUAL) is
//! kept through later polls, and announced like any change (UPDATED).

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};

use super::error::{coded, store as store_error};
use super::ids::decode_id_of;
use super::mutation::{actor, audit, user_error, UserError};
use super::request;
use super::scalars;
use super::types::Item;
use crate::model::{self, ItemId};
use crate::store::{Reclassification, StoreError};

/// A corrected classification.
#[derive(InputObject)]
pub struct ClassifyItemInput {
    /// The item.
    pub id: ID,
    /// Its primary category.
    pub category: scalars::Category,
    /// Every category that applies (the primary one is added first when missing).
    pub categories: Option<Vec<scalars::Category>>,
}

/// The outcome of `classifyItem`.
#[derive(SimpleObject)]
pub struct ClassifyItemPayload {
    /// The item as it is now.
    pub item: Option<Item>,
    /// What the sender can fix; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Correcting classifications.
#[derive(Default)]
pub struct ClassifyMutation;

#[Object]
impl ClassifyMutation {
    /// Corrects an item's classification (a MEMBER token of the organisation that publishes it, or
    /// an ADMIN token). Later polls keep it; `tributary reclassify` never changes it.
    async fn classify_item(
        &self,
        ctx: &Context<'_>,
        input: ClassifyItemInput,
    ) -> async_graphql::Result<ClassifyItemPayload> {
        let actor = actor(ctx)?;
        let r = request(ctx);
        let Some(raw) = decode_id_of("Item", &input.id) else {
            return Ok(ClassifyItemPayload {
                item: None,
                user_errors: vec![user_error(&["input", "id"], format!("`{}` is not an item id", input.id.0))],
            });
        };
        let id = ItemId(raw);
        let item = r.store.items_by_ids(&r.scope, std::slice::from_ref(&id)).await.map_err(store_error)?.pop();
        let item = item.ok_or_else(|| coded("NOT_FOUND", "no such item"))?;
        actor.may_manage(&item.organisation)?;
        let category: model::Category = input.category.into();
        let mut categories = vec![category];
        for c in input.categories.unwrap_or_default() {
            let c: model::Category = c.into();
            if !categories.contains(&c) {
                categories.push(c);
            }
        }
        let update = Reclassification {
            item: id,
            category,
            categories,
            source: model::ClassificationSource::Manual,
            terms: Vec::new(),
            route: None,
            manual: true,
            content_hash: None,
        };
        let changed = match r.store.reclassify(std::slice::from_ref(&update)).await {
            Ok(changed) => changed,
            Err(StoreError::NotFound) => return Err(coded("NOT_FOUND", "no such item")),
            Err(e) => return Err(store_error(e)),
        };
        let detail = update.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
        audit(ctx, "classifyItem", format!("item {}", item.id.0), detail).await;
        let item = changed.into_iter().next().unwrap_or(item);
        Ok(ClassifyItemPayload { item: Some(Item(item)), user_errors: Vec::new() })
    }
}
