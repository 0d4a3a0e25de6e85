//! Limits async-graphql does not keep itself: aliases. A query that asks for the same expensive
//! field under many names (`a1: items(first: 100) … a500: items(first: 100)`) stays shallow and,
//! field by field, cheap; it is refused with TOO_MANY_ALIASES before it runs, over HTTP and over
//! WebSocket alike (the check is an extension of the schema).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::parser::Positioned;
use async_graphql::{Name, ServerError, ServerResult, Variables};

/// Refuses an operation with more than `max` aliased fields, counted with every fragment spread
/// expanded where it is used.
pub struct AliasLimit(pub usize);

impl ExtensionFactory for AliasLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AliasLimitExtension(self.0))
    }
}

struct AliasLimitExtension(usize);

#[async_trait::async_trait]
impl Extension for AliasLimitExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let operations: Vec<&Positioned<SelectionSet>> = match &document.operations {
            DocumentOperations::Single(op) => vec![&op.node.selection_set],
            DocumentOperations::Multiple(ops) => ops.values().map(|op| &op.node.selection_set).collect(),
        };
        for set in operations {
            let mut counter = Counter { fragments: &document.fragments, limit: self.0, count: 0, spreads: 0 };
            counter.walk(set, 0);
            if counter.count > self.0 {
                let mut error =
                    ServerError::new(format!("the query uses more than {} aliases (api.max_aliases)", self.0), None);
                error.extensions.get_or_insert_with(Default::default).set("code", "TOO_MANY_ALIASES");
                return Err(error);
            }
        }
        Ok(document)
    }
}

/// Counts aliased fields, stopping as soon as the limit is passed; fragment spreads are followed
/// as deep as a query may be (a spread that refers to itself is a validation error, reported later).
struct Counter<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    limit: usize,
    count: usize,
    /// Fragment spreads followed, bounded so that fragments spread into each other many times
    /// cannot make the count itself expensive.
    spreads: usize,
}

/// Deepest nesting followed (beyond it, the depth limit refuses the query anyway).
const MAX_NESTING: usize = 64;
/// Fragment spreads followed at most in one operation.
const MAX_SPREADS: usize = 10_000;

impl Counter<'_> {
    fn walk(&mut self, set: &Positioned<SelectionSet>, depth: usize) {
        if depth > MAX_NESTING {
            return;
        }
        for selection in &set.node.items {
            if self.count > self.limit {
                return;
            }
            match &selection.node {
                Selection::Field(field) => {
                    if field.node.alias.is_some() {
                        self.count += 1;
                    }
                    self.walk(&field.node.selection_set, depth + 1);
                }
                Selection::InlineFragment(fragment) => self.walk(&fragment.node.selection_set, depth + 1),
                Selection::FragmentSpread(spread) => {
                    self.spreads += 1;
                    if self.spreads > MAX_SPREADS {
                        // Counted as over the limit: nobody needs this many spreads.
                        self.count = self.limit + 1;
                        return;
                    }
                    if let Some(fragment) = self.fragments.get(&spread.node.fragment_name.node) {
                        self.walk(&fragment.node.selection_set, depth + 1);
                    }
                }
            }
        }
    }
}
