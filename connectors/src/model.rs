//! The normalised item every connector produces, and the vocabularies shared with the hub.

use chrono::{DateTime, Utc};

use crate::geo::CountryCode;

/// Declares a fieldless enum named by stable upper-case strings: `as_str`, `FromStr`, `Display`
/// and `ALL`. Used here and by the hub's model, so every vocabulary reads and prints alike.
#[macro_export]
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable upper-case name used in storage, rules and the API.
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

string_enum! {
    /// What an item is about. Declaration order is also the tie-break order when rules score equally:
    /// route and regulatory changes first, because they are what people subscribe to.
    Category {
        /// Migration routes opening, closing or shifting; border crossings in practice.
        RouteChange => "ROUTE_CHANGE",
        /// Laws, decrees, rules and court rulings on migration and asylum.
        RegulatoryChange => "REGULATORY_CHANGE",
        /// Returns, repatriation, deportation, reintegration.
        Return => "RETURN",
        /// Appeals, grants and allocations.
        Funding => "FUNDING",
        /// Civil society, NGOs, volunteers' networks, advocacy.
        CivilSociety => "CIVIL_SOCIETY",
        /// Studies, reports, assessments.
        Study => "STUDY",
        /// Programmes and services.
        Programme => "PROGRAMME",
        /// Migrants' needs.
        Needs => "NEEDS",
        /// Meetings, conferences, webinars.
        Meeting => "MEETING",
        /// Anything else.
        Other => "OTHER",
    }
}

string_enum! {
    /// Where an item's classification came from.
    ClassificationSource {
        /// The feed's default category.
        FeedDefault => "FEED_DEFAULT",
        /// The entry's own categories or tags.
        SourceTag => "SOURCE_TAG",
        /// The multilingual keyword rules.
        Rule => "RULE",
        /// A CSV/JSON mapping.
        Mapping => "MAPPING",
        /// A person's correction.
        Manual => "MANUAL",
    }
}

string_enum! {
    /// The role a country plays in an item.
    CountryRole {
        /// Country of origin.
        Origin => "ORIGIN",
        /// Country of transit.
        Transit => "TRANSIT",
        /// Country of destination.
        Destination => "DESTINATION",
        /// Country of asylum.
        Asylum => "ASYLUM",
        /// Named in the text, role unknown.
        Mentioned => "MENTIONED",
    }
}

/// A country named by an item, with its role.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CountryMention {
    /// ISO 3166-1 alpha-2.
    pub code: CountryCode,
    /// Its role in the item.
    pub role: CountryRole,
}

/// A number an item carries (people affected, funding requested, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// What is counted, e.g. `affected` or `funding`.
    pub measure: String,
    /// The value.
    pub value: f64,
    /// Unit or currency, e.g. `people` or `CHF`.
    pub unit: Option<String>,
    /// The HXL tag it came from, when it came from HXL.
    pub hxl_tag: Option<String>,
    /// Disaggregation attributes, e.g. `f`, `children`.
    pub disaggregation: Vec<String>,
}

/// Where an item read from another hub came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    /// The hub that first imported it.
    pub origin_hub: String,
    /// The organisation that published it there (its code or id on that hub).
    pub origin_organisation: String,
    /// Its id on the origin hub.
    pub origin_id: String,
    /// The hubs it travelled through before this one, origin first.
    pub path: Vec<String>,
    /// Who may see it on the hub it was read from (`PUBLIC`, `NETWORK`, `SOCIETY`): it keeps
    /// the strictest visibility of its path.
    pub visibility: String,
    /// Its id on the hub it was read from, by which the follower asks that hub about it again.
    #[serde(default)]
    pub via: String,
}

/// How an item was classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// The primary category.
    pub category: Category,
    /// Every applicable category, primary first.
    pub categories: Vec<Category>,
    /// Where the decision came from.
    pub source: ClassificationSource,
    /// The matched terms or tags, as written in the rules or the source.
    pub terms: Vec<String>,
}

/// One entry of a source, normalised into the migration-information model.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalisedItem {
    /// The source's own identity for the entry: `guid:…`, else `link:…`, else `title-date:…`.
    /// The hub hashes it with the feed id into the item id; never a generated id.
    pub source_key: String,
    /// Plain-text title.
    pub title: String,
    /// Plain-text, sanitised summary.
    pub summary: String,
    /// Link to the entry on the publisher's site.
    pub url: Option<String>,
    /// BCP 47 language tag, declared or detected.
    pub language: Option<String>,
    /// `ltr` or `rtl`.
    pub direction: &'static str,
    /// When the entry was first published.
    pub published_at: Option<DateTime<Utc>>,
    /// When the entry last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// Categories, their source and matched terms.
    pub classification: Classification,
    /// Countries the entry concerns.
    pub countries: Vec<CountryMention>,
    /// A named migration route, e.g. "Central Mediterranean".
    pub route: Option<String>,
    /// Numbers the entry carries.
    pub figures: Vec<Figure>,
    /// Title and summary as [`crate::text::normalise`] writes them: what search indexes, so every
    /// backend indexes the same text.
    pub search_text: String,
    /// The story keys of the link and of the title and summary ([`crate::story`]), by which the
    /// hub links duplicates; computed with the rest, from the same tokens. An item built by hand
    /// gets them from [`NormalisedItem::with_story_keys`].
    pub url_key: Option<String>,
    pub text_key: Option<String>,
    /// Where the item came from, when it was read from another hub (a HUB feed).
    pub provenance: Option<Provenance>,
    /// The source marks this record deleted (a mapping's `item.deleted`): its item is withdrawn,
    /// and the other fields are empty.
    pub deleted: bool,
}

impl NormalisedItem {
    /// A record the source marks deleted: only its identity matters.
    pub fn deleted(source_key: String) -> NormalisedItem {
        NormalisedItem {
            source_key,
            title: String::new(),
            summary: String::new(),
            url: None,
            language: None,
            direction: "ltr",
            published_at: None,
            updated_at: None,
            classification: Classification {
                category: Category::Other,
                categories: vec![Category::Other],
                source: ClassificationSource::Mapping,
                terms: Vec::new(),
            },
            countries: Vec::new(),
            route: None,
            figures: Vec::new(),
            search_text: String::new(),
            url_key: None,
            text_key: None,
            provenance: None,
            deleted: true,
        }
    }

    /// The item with its story keys computed from its link, title and summary.
    pub fn with_story_keys(self) -> NormalisedItem {
        NormalisedItem {
            url_key: self.url.as_deref().and_then(crate::story::url_key),
            text_key: crate::story::text_key(&self.title, &self.summary),
            ..self
        }
    }

    /// A hash of everything a reader sees, so an unchanged entry is recognised and not rewritten.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut field = |s: &str| {
            h.update(s.as_bytes());
            h.update([0u8]);
        };
        field(&self.title);
        field(&self.summary);
        field(self.url.as_deref().unwrap_or(""));
        field(self.language.as_deref().unwrap_or(""));
        field(&self.published_at.map(|d| d.to_rfc3339()).unwrap_or_default());
        field(&self.updated_at.map(|d| d.to_rfc3339()).unwrap_or_default());
        field(self.classification.source.as_str());
        for c in &self.classification.categories {
            field(c.as_str());
        }
        for t in &self.classification.terms {
            field(t);
        }
        for c in &self.countries {
            field(c.code.as_str());
            field(c.role.as_str());
        }
        field(self.route.as_deref().unwrap_or(""));
        for f in &self.figures {
            field(&f.measure);
            field(&f.value.to_string());
            field(f.unit.as_deref().unwrap_or(""));
            field(f.hxl_tag.as_deref().unwrap_or(""));
            for attribute in &f.disaggregation {
                field(attribute);
            }
        }
        // Only items read from another hub have one, so other items' hashes are as they were.
        if let Some(p) = &self.provenance {
            field(&p.origin_hub);
            field(&p.origin_organisation);
            field(&p.origin_id);
            for hub in &p.path {
                field(hub);
            }
            field(&p.visibility);
        }
        let digest = h.finalize();
        crate::text::hex(&digest[..16])
    }
}
