//! Feeds: what a society registered, how it is polled, and how it is doing.

use chrono::{DateTime, Utc};

use connectors::mapping::{Format, Mapping};

use super::{named_enum, Category, CountryCode, FeedId, OrgId};

named_enum! {
    /// The connector that reads a feed.
    FeedKind {
        /// RSS 0.9x/1.0/2.0, Atom or JSON Feed.
        Rss => "RSS",
        /// A CSV file, HXL-tagged or read with a mapping.
        Csv => "CSV",
        /// A JSON API, read with a mapping, page by page.
        JsonApi => "JSON_API",
        /// Another Tributary hub's GraphQL endpoint, followed through its change log.
        Hub => "HUB",
    }
}

named_enum! {
    /// Who may see a feed and its items.
    Visibility {
        /// Anyone.
        Public => "PUBLIC",
        /// Members and observers of the owning organisation's networks.
        Network => "NETWORK",
        /// The owning organisation only.
        Society => "SOCIETY",
    }
}

named_enum! {
    /// How a feed is doing.
    FeedState {
        /// Polled on schedule.
        Active => "ACTIVE",
        /// Paused by its owner.
        Paused => "PAUSED",
        /// The last fetch or parse failed; retried with backoff.
        Failing => "FAILING",
    }
}

/// An absolute http(s) URL without credentials: the only thing the hub will fetch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeedUrl(url::Url);

impl FeedUrl {
    /// Parses and checks a URL.
    pub fn parse(text: &str) -> Result<FeedUrl, String> {
        let url = url::Url::parse(text.trim()).map_err(|e| format!("`{text}` is not a valid URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("`{text}`: only http and https URLs can be polled"));
        }
        if url.host().is_none() {
            return Err(format!("`{text}` has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("`{text}`: credentials in URLs are not accepted"));
        }
        Ok(FeedUrl(url))
    }

    /// The URL.
    pub fn as_url(&self) -> &url::Url {
        &self.0
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host, used for per-host concurrency limits.
    pub fn host(&self) -> String {
        self.0.host_str().unwrap_or_default().to_ascii_lowercase()
    }
}

/// A registered feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    /// Its id.
    pub id: FeedId,
    /// The organisation that owns it.
    pub organisation: OrgId,
    /// Where it is fetched from.
    pub url: FeedUrl,
    /// Its connector.
    pub kind: FeedKind,
    /// How its rows or records become items (a TOML mapping), for CSV and JSON API feeds; checked
    /// when it was registered.
    pub mapping: Option<String>,
    /// Its title, as the feed gives it.
    pub title: Option<String>,
    /// Category for items no rule or tag classifies.
    pub default_category: Option<Category>,
    /// Language assumed when neither declared nor detected.
    pub default_language: Option<String>,
    /// Countries every item concerns.
    pub default_countries: Vec<CountryCode>,
    /// Who may see it.
    pub visibility: Visibility,
    /// Seconds between polls when the source says nothing else.
    pub poll_interval_secs: i64,
    /// How it is doing.
    pub state: FeedState,
    /// Why the last attempt failed, in plain words.
    pub last_error: Option<String>,
    /// Consecutive failures.
    pub error_count: i64,
    /// When it is next polled (or retried).
    pub next_check_at: DateTime<Utc>,
    /// When it was last fetched successfully.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Validators for conditional GET.
    pub etag: Option<String>,
    /// Validators for conditional GET.
    pub last_modified: Option<String>,
    /// Hash of the last body, so an unchanged body costs nothing even without validators.
    pub body_hash: Option<String>,
    /// Warnings from the last parse.
    pub warnings: Vec<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// The SHA-256 of the body a poll was storing when it was cut short, if one was.
    pub resume_hash: Option<String>,
    /// How many of that body's items it had stored: the next poll of the same body resumes there.
    pub resume_items: i64,
    /// When it was deleted: no longer listed or polled, its items withdrawn.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// Changes to a registered feed; what is `None` stays as it is.
#[derive(Debug, Clone, Default)]
pub struct FeedUpdate {
    /// A new URL (a feed that moved).
    pub url: Option<FeedUrl>,
    /// A new kind and mapping, checked together.
    pub kind_and_mapping: Option<(FeedKind, Option<String>)>,
    /// Who may see it and its items from now on.
    pub visibility: Option<Visibility>,
    pub default_category: Option<Category>,
    pub default_language: Option<String>,
    pub default_countries: Option<Vec<CountryCode>>,
    pub poll_interval_secs: Option<i64>,
}

/// What is needed to register a feed.
#[derive(Debug, Clone)]
pub struct NewFeed {
    /// The owner.
    pub organisation: OrgId,
    /// The URL.
    pub url: FeedUrl,
    /// The connector.
    pub kind: FeedKind,
    /// The mapping (TOML), for CSV and JSON API feeds.
    pub mapping: Option<String>,
    /// Default category.
    pub default_category: Option<Category>,
    /// Default language.
    pub default_language: Option<String>,
    /// Default countries.
    pub default_countries: Vec<CountryCode>,
    /// Visibility (PUBLIC by default).
    pub visibility: Visibility,
    /// Poll interval in seconds.
    pub poll_interval_secs: i64,
}

impl NewFeed {
    /// An RSS/Atom/JSON Feed registration with no defaults, PUBLIC, polled every
    /// `poll_interval_secs`; change the fields that differ.
    pub fn new(organisation: OrgId, url: FeedUrl, poll_interval_secs: i64) -> NewFeed {
        NewFeed {
            organisation,
            url,
            kind: FeedKind::Rss,
            mapping: None,
            default_category: None,
            default_language: None,
            default_countries: Vec::new(),
            visibility: Visibility::Public,
            poll_interval_secs,
        }
    }

    /// The kind and mapping of a registration from what was given: a preset's text for its name,
    /// the kind the mapping's format says when none is given (RSS without a mapping).
    pub fn kind_and_mapping(
        kind: Option<FeedKind>,
        mapping: Option<String>,
        preset: Option<&str>,
    ) -> Result<(FeedKind, Option<String>), String> {
        let mapping = match (mapping, preset) {
            (Some(_), Some(_)) => return Err("give a mapping or a preset, not both".into()),
            (None, Some(name)) => {
                let known: Vec<&str> = connectors::mapping::PRESETS.iter().map(|(n, _)| *n).collect();
                let text = connectors::mapping::preset(name)
                    .ok_or_else(|| format!("no preset `{name}` (there are: {})", known.join(", ")))?;
                Some(text.to_string())
            }
            (mapping, None) => mapping,
        };
        let format = mapping.as_deref().and_then(|m| Mapping::parse(m).ok()).map(|m| m.format);
        let kind = match (kind, format) {
            (Some(kind), _) => kind,
            (None, Some(Format::Json)) => FeedKind::JsonApi,
            (None, Some(Format::Csv)) => FeedKind::Csv,
            (None, None) => FeedKind::Rss,
        };
        Ok((kind, mapping))
    }

    /// Checks that the kind and the mapping go together and that the mapping is valid, so a feed
    /// is never stored with a mapping its polls would refuse.
    pub fn check(&self) -> Result<(), String> {
        Self::check_kind_and_mapping(self.kind, self.mapping.as_deref())
    }

    /// [`NewFeed::check`] for a kind and a mapping alone.
    pub fn check_kind_and_mapping(kind: FeedKind, mapping: Option<&str>) -> Result<(), String> {
        if kind == FeedKind::Hub {
            // A HUB feed's "mapping" is its settings: the read token the other hub issued.
            return mapping.map_or(Ok(()), |m| connectors::hub::HubSettings::parse(m).map(|_| ()));
        }
        let mapping = mapping.map(Mapping::parse).transpose().map_err(|e| e.to_string())?;
        let format = mapping.as_ref().map(|m| m.format);
        match (kind, format) {
            (FeedKind::Rss, None)
            | (FeedKind::Csv, None | Some(Format::Csv))
            | (FeedKind::JsonApi, Some(Format::Json)) => Ok(()),
            (FeedKind::Rss, Some(_)) => Err("an RSS feed takes no mapping".into()),
            (FeedKind::Hub, _) => Ok(()), // its settings were read above
            (FeedKind::JsonApi, None) => {
                Err("a JSON_API feed needs a mapping saying where its records and fields are".into())
            }
            (kind, Some(format)) => {
                let wanted = if kind == FeedKind::JsonApi { Format::Json } else { Format::Csv };
                Err(format!(
                    "a {} feed needs a mapping with `format = \"{}\"`; this one says `format = \"{}\"`",
                    kind.as_str(),
                    wanted.as_str(),
                    format.as_str()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_without_credentials_are_feeds() {
        assert!(FeedUrl::parse("https://example.org/feed.xml").is_ok());
        assert!(FeedUrl::parse("file:///etc/passwd").is_err());
        assert!(FeedUrl::parse("gopher://example.org").is_err());
        assert!(FeedUrl::parse("https://user:pw@example.org/").is_err());
        assert!(FeedUrl::parse("not a url").is_err());
    }
}
