//! Organisations (National Societies, the IFRC, the ICRC, external publishers) and networks.

use super::{named_enum, OrgId};

named_enum! {
    /// What kind of organisation.
    OrgKind {
        /// A National Society; its code is its country's ISO 3166-1 alpha-2.
        Society => "SOCIETY",
        /// The International Federation.
        Ifrc => "IFRC",
        /// The International Committee of the Red Cross.
        Icrc => "ICRC",
        /// A publisher outside the Movement (UNHCR, IOM, ReliefWeb).
        External => "EXTERNAL",
    }
}

named_enum! {
    /// IFRC regions. Central Asia is in IFRC Europe.
    IfrcRegion {
        /// Africa.
        Africa => "AFRICA",
        /// Americas.
        Americas => "AMERICAS",
        /// Asia Pacific.
        AsiaPacific => "ASIA_PACIFIC",
        /// Europe (with Central Asia).
        Europe => "EUROPE",
        /// Middle East and North Africa.
        Mena => "MENA",
    }
}

named_enum! {
    /// An organisation's role in a network.
    MemberRole {
        /// A member.
        Member => "MEMBER",
        /// An observer (the ICRC in the Americas group, for instance).
        Observer => "OBSERVER",
        /// A coordinator or co-chair.
        Coordinator => "COORDINATOR",
    }
}

/// A National Society, the IFRC, the ICRC or an external publisher.
#[derive(Debug, Clone, PartialEq)]
pub struct Organisation {
    /// Its id, which is its code.
    pub id: OrgId,
    /// Its kind.
    pub kind: OrgKind,
    /// Name in English.
    pub name_en: String,
    /// Name in its local or official language, where known.
    pub name_local: Option<String>,
    /// BCP 47 tag of `name_local`.
    pub local_language: Option<String>,
    /// IFRC region, for societies.
    pub region: Option<IfrcRegion>,
    /// Where the seed row came from.
    pub source: Option<String>,
}

/// A network of societies.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// Slug: `perco`, `apmn`, `americas`, `central-asia`.
    pub slug: String,
    /// Short name, e.g. `PERCO`.
    pub short_name: String,
    /// Full name in English.
    pub name_en: String,
    /// IFRC region it belongs to.
    pub region: Option<IfrcRegion>,
    /// When it was founded, as the source gives it (a year or a date).
    pub founded: Option<String>,
    /// What it is.
    pub description: Option<String>,
    /// Where the seed row came from.
    pub source: Option<String>,
}

/// An organisation's membership in a network.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    /// The network's slug.
    pub network: String,
    /// The organisation.
    pub organisation: OrgId,
    /// Its role.
    pub role: MemberRole,
    /// The public source that establishes it, or who set it.
    pub source: Option<String>,
}
