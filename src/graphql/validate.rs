//! `validateFeed`: a dry run of registration. The URL is fetched and parsed now, as a poll would,
//! and what would be stored is returned — nothing is. An ordinary web page is searched for the
//! feeds it advertises (`<link rel="alternate">`).

use async_graphql::{Context, InputObject, SimpleObject};
use chrono::{DateTime, Utc};
use connectors::{Connector, FeedContext, NormalisedItem};

use super::mutation::UserError;
use super::scalars::FeedKind;
use crate::model::{self, NewFeed};
use crate::poller::fetch::{Body, Fetched, Fetcher, Keep};

/// Items shown in a preview.
const PREVIEW_ITEMS: usize = 5;

/// Bytes looked at to tell what a document is.
const SNIFF_BYTES: usize = 64 * 1024;

/// What to try.
#[derive(InputObject)]
pub struct ValidateFeedInput {
    /// A feed, a CSV file, an API endpoint, or just the society's web page.
    pub url: String,
    /// The kind, when it is not to be detected.
    pub kind: Option<FeedKind>,
    /// A mapping (TOML) for a CSV file or a JSON API.
    pub mapping: Option<String>,
    /// A preset instead of a mapping.
    pub preset: Option<String>,
}

/// An item as it would be stored.
#[derive(SimpleObject)]
pub struct PreviewItem {
    pub title: String,
    pub summary: String,
    pub url: Option<String>,
    /// Its language (BCP 47), declared or detected.
    pub language: Option<String>,
    /// Writing direction of the text: `ltr` or `rtl` (for an HTML `dir` attribute).
    pub direction: String,
    pub published_at: Option<DateTime<Utc>>,
    /// Its categories, primary first.
    pub categories: Vec<super::scalars::Category>,
    /// Its countries (ISO 3166-1 alpha-2).
    pub countries: Vec<String>,
    /// Its figures, as `measure value unit`.
    pub figures: Vec<String>,
}

/// A feed a web page advertises.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct AlternateFeed {
    /// Its URL, resolved against the page's.
    pub url: String,
    /// The title the page gives it.
    pub title: Option<String>,
    /// Its media type (`application/rss+xml`, `application/atom+xml`, `application/feed+json`).
    pub media_type: String,
}

/// What a registration of the URL would find.
#[derive(SimpleObject, Default)]
pub struct FeedValidation {
    /// The kind detected (or given); null for a web page that is not a feed.
    pub kind: Option<FeedKind>,
    /// The feed's own title.
    pub title: Option<String>,
    /// The first items, as they would be stored.
    pub items: Vec<PreviewItem>,
    /// Items in the whole document.
    pub item_count: i32,
    /// What a focal point should know, in plain words.
    pub warnings: Vec<String>,
    /// For a web page: the feeds it advertises, to register instead.
    pub alternates: Vec<AlternateFeed>,
    /// What the sender can fix (a URL that cannot be fetched, a mapping that does not fit).
    pub user_errors: Vec<UserError>,
}

fn refused(field: &str, message: impl Into<String>) -> FeedValidation {
    FeedValidation {
        user_errors: vec![UserError {
            field: vec!["input".into(), field.into()],
            message: message.into(),
            code: "BAD_USER_INPUT".into(),
        }],
        ..FeedValidation::default()
    }
}

/// What the first bytes of a document say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sniffed {
    Feed,
    Html,
    Json,
    Csv,
}

/// Tells a feed (XML or JSON Feed) from a web page, other JSON, and CSV.
fn sniff(head: &[u8]) -> Sniffed {
    let text = String::from_utf8_lossy(head);
    let start = text.trim_start_matches('\u{feff}').trim_start();
    let lower = start.chars().take(2048).collect::<String>().to_ascii_lowercase();
    if start.starts_with('<') {
        if lower.starts_with("<!doctype html") || lower.contains("<html") {
            Sniffed::Html
        } else {
            Sniffed::Feed
        }
    } else if start.starts_with('{') || start.starts_with('[') {
        if lower.contains("jsonfeed.org/version") {
            Sniffed::Feed
        } else {
            Sniffed::Json
        }
    } else {
        Sniffed::Csv
    }
}

/// The feeds an HTML page advertises: `<link rel="alternate">` with a feed's media type.
fn alternates(html: &str, base: &url::Url) -> Vec<AlternateFeed> {
    const FEED_TYPES: [&str; 4] =
        ["application/rss+xml", "application/atom+xml", "application/feed+json", "application/json"];
    let lower = html.to_ascii_lowercase();
    let mut found: Vec<AlternateFeed> = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find("<link") {
        let start = from + at;
        let end = lower[start..].find('>').map_or(lower.len(), |e| start + e);
        from = end;
        let attributes = attributes(&html[start + 5..end]);
        let get = |name: &str| attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let rel = get("rel").unwrap_or_default().to_ascii_lowercase();
        let media_type = get("type").unwrap_or_default().to_ascii_lowercase();
        if !rel.split_whitespace().any(|r| r == "alternate") || !FEED_TYPES.contains(&media_type.as_str()) {
            continue;
        }
        let Some(url) = get("href").and_then(|href| base.join(href.trim()).ok()) else { continue };
        if found.iter().any(|f| f.url == url.as_str()) {
            continue;
        }
        found.push(AlternateFeed { url: url.to_string(), title: get("title"), media_type });
    }
    found
}

/// The attributes of a tag's inside, names lower-cased, values unescaped (`&amp;` and the like).
fn attributes(inside: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = inside.trim_start_matches('/').trim();
    while !rest.is_empty() {
        let name_end = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let name = rest[..name_end].trim_matches('/').to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        let value = if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (value, next) = match after.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let close = after[1..].find(q).map_or(after.len(), |c| c + 1);
                    (&after[1..close], after.get(close + 1..).unwrap_or(""))
                }
                _ => {
                    let end = after.find(char::is_whitespace).unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            rest = next.trim_start();
            html_escape::decode_html_entities(value).into_owned()
        } else {
            String::new()
        };
        if !name.is_empty() {
            out.push((name, value));
        }
    }
    out
}

fn preview(item: &NormalisedItem) -> PreviewItem {
    PreviewItem {
        title: item.title.clone(),
        summary: item.summary.clone(),
        url: item.url.clone(),
        language: item.language.clone(),
        direction: item.direction.to_string(),
        published_at: item.published_at,
        categories: item.classification.categories.iter().map(|c| (*c).into()).collect(),
        countries: item.countries.iter().map(|c| c.code.to_string()).collect(),
        figures: item
            .figures
            .iter()
            .map(|f| format!("{} {} {}", f.measure, f.value, f.unit.as_deref().unwrap_or("")).trim().to_string())
            .collect(),
    }
}

/// Fetches and parses `input.url` now, storing nothing.
pub async fn validate(ctx: &Context<'_>, input: ValidateFeedInput) -> async_graphql::Result<FeedValidation> {
    let url = match model::FeedUrl::parse(&input.url) {
        Ok(url) => url,
        Err(m) => return Ok(refused("url", m)),
    };
    let guard = ctx.data_unchecked::<std::sync::Arc<crate::poller::guard::Guard>>();
    if let Err(blocked) = guard.check_target(url.as_url()).await {
        return Ok(refused("url", blocked.0));
    }
    let given = input.kind.is_some() || input.mapping.is_some() || input.preset.is_some();
    let (kind, mapping) =
        match NewFeed::kind_and_mapping(input.kind.map(Into::into), input.mapping, input.preset.as_deref())
            .and_then(|(k, m)| NewFeed::check_kind_and_mapping(k, m.as_deref()).map(|()| (k, m)))
        {
            Ok(found) => found,
            Err(m) => return Ok(refused("mapping", m)),
        };
    if kind == model::FeedKind::Hub {
        return Ok(FeedValidation {
            kind: Some(kind.into()),
            warnings: vec![
                "a HUB feed is not previewed: register the other hub's GraphQL endpoint, and its first poll says whether it can be followed".into(),
            ],
            ..FeedValidation::default()
        });
    }
    let fetcher = ctx.data_unchecked::<Fetcher>();
    let headers = reqwest::header::HeaderMap::new();
    // A dry run reads at most `fetch.max_body_bytes`, in memory: it answers a request, so it
    // must stay small whatever the URL holds (a poll reads a large CSV file from disk instead).
    let fetched = match fetcher.fetch(&url, &headers, None, None, Keep::Memory).await {
        Ok(Fetched::Body { body, .. }) => body,
        Ok(Fetched::NotModified(_)) => {
            return Ok(refused("url", "the server answered 304 Not Modified to a plain request"))
        }
        Err(e) => return Ok(refused("url", e.to_string())),
    };
    let bytes = match fetched {
        Body::Memory(bytes) => bytes,
        Body::File(_) => return Ok(refused("url", "the hub could not keep the document to read it")),
    };
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];

    let mut result = FeedValidation::default();
    let kind = if given {
        kind
    } else {
        match sniff(head) {
            Sniffed::Feed => model::FeedKind::Rss,
            Sniffed::Csv => model::FeedKind::Csv,
            Sniffed::Json => {
                result.kind = Some(FeedKind::JsonApi);
                result.warnings.push(
                    "this is JSON but not a JSON Feed: register it as a JSON API with a mapping saying where its records and fields are (or a preset)".into(),
                );
                return Ok(result);
            }
            Sniffed::Html => {
                result.alternates = alternates(&String::from_utf8_lossy(&bytes), url.as_url());
                result.warnings.push(match result.alternates.len() {
                    0 => "this is a web page, not a feed, and it advertises no feed; ask the site for its RSS or Atom address".into(),
                    n => format!("this is a web page, not a feed; it advertises {n} feed(s): register one of those"),
                });
                return Ok(result);
            }
        }
    };
    let mapping = mapping
        .as_deref()
        .map(connectors::mapping::Mapping::parse)
        .transpose()
        .map_err(|e| super::error::bad_input(e.to_string()))?;
    let connector = match kind {
        model::FeedKind::Rss => Connector::Rss,
        model::FeedKind::Csv => Connector::Csv(mapping.map(Box::new)),
        model::FeedKind::JsonApi => match mapping {
            Some(m) => Connector::Json(Box::new(m)),
            None => return Ok(refused("mapping", "a JSON_API feed needs a mapping")),
        },
        model::FeedKind::Hub => unreachable!("a HUB feed returned above"),
    };
    let context = FeedContext { url: Some(url.as_str().to_string()), ..FeedContext::default() };
    // Parsing is CPU work: off the threads that serve requests, as in a poll.
    let parsed = tokio::task::spawn_blocking(move || {
        let mut first: Vec<NormalisedItem> = Vec::new();
        let mut count = 0usize;
        let parsed = connector.parse_chunks(&bytes, &context, 1000, &mut |chunk| {
            count += chunk.len();
            let room = PREVIEW_ITEMS.saturating_sub(first.len());
            first.extend(chunk.into_iter().take(room));
        });
        parsed.map(|p| (p, first, count))
    })
    .await
    .map_err(|e| super::error::coded("INTERNAL", e.to_string()))?;
    match parsed {
        Ok((parsed, first, count)) => {
            result.kind = Some(kind.into());
            result.title = parsed.title;
            result.items = first.iter().map(preview).collect();
            result.item_count = i32::try_from(count).unwrap_or(i32::MAX);
            result.warnings = parsed.warnings;
            Ok(result)
        }
        Err(e) => Ok(FeedValidation { kind: Some(kind.into()), ..refused("url", e.to_string()) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_told_apart_by_their_first_bytes() {
        assert_eq!(sniff(b"<?xml version=\"1.0\"?><rss>"), Sniffed::Feed);
        assert_eq!(sniff(b"\xEF\xBB\xBF  <feed xmlns=\"http://www.w3.org/2005/Atom\">"), Sniffed::Feed);
        assert_eq!(sniff(b"<!DOCTYPE html><html lang=\"fr\">"), Sniffed::Html);
        assert_eq!(sniff(b"{\"version\": \"https://jsonfeed.org/version/1.1\", \"items\": []}"), Sniffed::Feed);
        assert_eq!(sniff(b"{\"data\": []}"), Sniffed::Json);
        assert_eq!(sniff(b"Site id,Country\n#meta+id,#country+code\n"), Sniffed::Csv);
    }

    #[test]
    fn a_page_advertises_its_feeds_with_link_alternate() {
        let base = url::Url::parse("https://www.croix-rouge.fr/actualites/").unwrap();
        let html = r#"<html><head>
            <link rel="stylesheet" href="/style.css">
            <LINK REL="alternate" TYPE="application/rss+xml" TITLE="Actualit&eacute;s" HREF="/rss.xml">
            <link rel='alternate' type='application/atom+xml' href='https://www.croix-rouge.fr/atom.xml' />
            <link rel="alternate" hreflang="en" href="/en/">
            <link rel="alternate" type="application/rss+xml" href="/rss.xml">
        </head></html>"#;
        assert_eq!(
            alternates(html, &base),
            [
                AlternateFeed {
                    url: "https://www.croix-rouge.fr/rss.xml".into(),
                    title: Some("Actualités".into()),
                    media_type: "application/rss+xml".into()
                },
                AlternateFeed {
                    url: "https://www.croix-rouge.fr/atom.xml".into(),
                    title: None,
                    media_type: "application/atom+xml".into()
                },
            ]
        );
    }
}
