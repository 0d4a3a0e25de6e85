//! GraphQL enums mirroring the domain's, and the `CountryCode` scalar.

use async_graphql::{Enum, InputValueError, InputValueResult, Scalar, ScalarType, Value};

use crate::model;

/// ISO 3166-1 country code. Accepts alpha-2 (`FR`) or alpha-3 (`FRA`) in any case; always
/// returns alpha-2 in upper case. Country names are not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountryCode(pub model::CountryCode);

#[Scalar(name = "CountryCode", specified_by_url = "https://www.iso.org/iso-3166-country-codes.html")]
impl ScalarType for CountryCode {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => model::CountryCode::parse(s).map(CountryCode).map_err(InputValueError::custom),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

macro_rules! mirror_enum {
    ($(#[$meta:meta])* $name:ident as $gql:literal = $remote:literal { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
        #[graphql(name = $gql, remote = $remote)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }
    };
}

mirror_enum! {
    /// What an item is about. An item may have several; filters match any of them.
    Category as "Category" = "model::Category" {
        /// Migration routes opening, closing or shifting; border crossings in practice.
        RouteChange,
        /// Laws, decrees, rules and court rulings on migration and asylum.
        RegulatoryChange,
        /// Returns, repatriation, deportation, reintegration.
        Return,
        /// Appeals, grants and allocations.
        Funding,
        /// Civil society, NGOs, volunteers' networks, advocacy.
        CivilSociety,
        /// Studies, reports, assessments.
        Study,
        /// Programmes and services.
        Programme,
        /// Migrants' needs.
        Needs,
        /// Meetings, conferences, webinars.
        Meeting,
        /// Anything else.
        Other,
    }
}

mirror_enum! {
    /// Where an item's classification came from.
    ClassificationSource as "ClassificationSource" = "model::ClassificationSource" {
        /// The feed's default category.
        FeedDefault,
        /// The entry's own categories or tags.
        SourceTag,
        /// The multilingual keyword rules.
        Rule,
        /// A CSV/JSON mapping.
        Mapping,
        /// A person's correction.
        Manual,
    }
}

mirror_enum! {
    /// The role a country plays in an item.
    CountryRole as "CountryRole" = "model::CountryRole" {
        /// Country of origin.
        Origin,
        /// Country of transit.
        Transit,
        /// Country of destination.
        Destination,
        /// Country of asylum.
        Asylum,
        /// Named, role unknown.
        Mentioned,
    }
}

mirror_enum! {
    /// Who may see a feed and its items.
    Visibility as "Visibility" = "model::Visibility" {
        /// Anyone.
        Public,
        /// Members and observers of the owning organisation's networks.
        Network,
        /// The owning organisation only.
        Society,
    }
}

mirror_enum! {
    /// How a feed is doing.
    FeedState as "FeedState" = "model::FeedState" {
        /// Polled on schedule.
        Active,
        /// Paused by its owner.
        Paused,
        /// The last attempt failed; retried with backoff (see `lastError`, `nextCheckAt`).
        Failing,
    }
}

mirror_enum! {
    /// What `figures` totals are grouped by.
    FigureGroup as "FigureGroup" = "model::FigureGroup" {
        /// The item's first country (the one its source states, when it states one).
        Country,
        /// The month it was published (`2026-10`), or first seen when it has no date.
        Month,
        /// Its named route.
        Route,
        /// Its primary category.
        Category,
    }
}

mirror_enum! {
    /// What a token may do.
    TokenRole as "TokenRole" = "model::TokenRole" {
        /// Everything.
        Admin,
        /// Acts for one organisation: manages its feeds, reads NETWORK items of its networks.
        Member,
        /// Reads: PUBLIC items, and NETWORK items of its networks (all when it names none).
        Reader,
    }
}

mirror_enum! {
    /// The connector that reads a feed.
    FeedKind as "FeedKind" = "model::FeedKind" {
        /// RSS 0.9x/1.0/2.0, Atom or JSON Feed.
        Rss,
        /// A CSV file, HXL-tagged or read with a mapping.
        Csv,
        /// A JSON API, read with a mapping, page by page.
        JsonApi,
        /// Another Tributary hub's GraphQL endpoint, followed through its change log.
        Hub,
    }
}

mirror_enum! {
    /// Kinds of organisation.
    OrganisationKind as "OrganisationKind" = "model::OrgKind" {
        /// A National Society.
        Society,
        /// The International Federation.
        Ifrc,
        /// The International Committee of the Red Cross.
        Icrc,
        /// A publisher outside the Movement.
        External,
    }
}

mirror_enum! {
    /// IFRC regions (Central Asia is in Europe).
    IfrcRegion as "IfrcRegion" = "model::IfrcRegion" {
        /// Africa.
        Africa,
        /// Americas.
        Americas,
        /// Asia Pacific.
        AsiaPacific,
        /// Europe.
        Europe,
        /// Middle East and North Africa.
        Mena,
    }
}

mirror_enum! {
    /// An organisation's role in a network.
    MemberRole as "MemberRole" = "model::MemberRole" {
        /// A member.
        Member,
        /// An observer.
        Observer,
        /// A coordinator or co-chair.
        Coordinator,
    }
}

mirror_enum! {
    /// What happened to an item.
    ChangeKind as "ChangeKind" = "model::ChangeKind" {
        /// First seen.
        Created,
        /// Its content changed.
        Updated,
        /// Removed at the source or by its owner.
        Withdrawn,
    }
}

/// Orderings of `items`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[graphql(remote = "crate::store::ItemOrder")]
pub enum ItemOrder {
    /// Newest first (items without a date sort by when the hub first saw them).
    #[default]
    PublishedDesc,
    /// Oldest first.
    PublishedAsc,
    /// Most recently updated first.
    UpdatedDesc,
    /// Best `search` match first; newest first without a search.
    Relevance,
}

/// What kind of viewer a request is made as.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewerRole {
    /// No token: PUBLIC items only.
    Anonymous,
    /// An ADMIN token: everything.
    Admin,
    /// A MEMBER token: acts for one organisation.
    Member,
    /// A READER token: reads, optionally within some networks.
    Reader,
}
