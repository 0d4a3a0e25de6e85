//! Domain types of the migration-information model. No sqlx, axum or GraphQL here: storage and the
//! API translate to and from these.

mod feed;
mod ids;
mod item;
mod organisation;
mod viewer;

pub use connectors::{Category, ClassificationSource, CountryCode, CountryMention, CountryRole, Figure};
pub use feed::{Feed, FeedKind, FeedState, FeedUrl, NewFeed, Visibility};
pub use ids::{FeedId, ItemId, OrgId};
pub use item::{Change, ChangeKind, Item};
pub use organisation::{IfrcRegion, MemberRole, Membership, Network, OrgKind, Organisation};
pub use viewer::Viewer;

/// Declares a fieldless enum stored and served by its upper-case name.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// The stable upper-case name used in storage and the API.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("unknown {} `{}`", stringify!($name), other)),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}
pub(crate) use named_enum;
