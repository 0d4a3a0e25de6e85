//! Domain types of the migration-information model. No sqlx, axum or GraphQL here: storage and the
//! API translate to and from these.

mod audit;
mod feed;
mod ids;
mod item;
mod organisation;
mod viewer;
mod webhook;

pub use audit::{actor_name, AuditEntry, NewAuditEntry, OPERATOR};
pub use connectors::model::Provenance;
pub use connectors::{Category, ClassificationSource, CountryCode, CountryMention, CountryRole, Figure};
pub use feed::{Feed, FeedKind, FeedState, FeedUpdate, FeedUrl, NewFeed, Visibility};
pub use ids::{FeedId, ItemId, OrgId};
pub use item::{Change, ChangeFilter, ChangeKind, FigureBucket, FigureGroup, Item};
pub use organisation::{IfrcRegion, MemberRole, Membership, Network, OrgKind, Organisation};
pub use viewer::{new_secret, secret_hash, NewToken, Token, TokenId, TokenRole, Viewer, TOKEN_PREFIX};
pub use webhook::{new_webhook_secret, NewWebhook, Webhook, WebhookDelivery, WebhookId, WebhookState, WebhookUpdate};

/// Declares a fieldless enum stored and served by its upper-case name (the connectors' macro).
pub(crate) use connectors::string_enum as named_enum;
