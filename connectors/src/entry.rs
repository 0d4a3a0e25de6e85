//! What every connector does once it has read an entry or a row: language, classification,
//! countries, route and search text, the same way for RSS, CSV and JSON.

use chrono::{DateTime, Utc};

use crate::classify;
use crate::geo;
use crate::lang;
use crate::model::{Category, ClassificationSource, CountryMention, CountryRole, Figure, NormalisedItem};
use crate::text::{normalise, tokens, truncate_chars};
use crate::FeedContext;

/// What a connector read from one entry or row, before the shared normalisation.
#[derive(Debug, Clone, Default)]
pub(crate) struct Draft<'a> {
    /// The source's identity for the entry (see [`NormalisedItem::source_key`]).
    pub source_key: String,
    /// Plain-text title; when empty, the start of the summary stands in.
    pub title: String,
    /// Plain-text summary.
    pub summary: String,
    pub url: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// The language the source declares, if any.
    pub declared_language: Option<&'a str>,
    /// The entry's own categories or tags.
    pub tags: Vec<String>,
    /// Countries the source states outright (a mapped column), with their roles; names found in
    /// the text and the feed's defaults are added after them.
    pub countries: Vec<CountryMention>,
    /// A category a mapping assigns: it becomes the primary category, from the MAPPING source.
    pub category: Option<Category>,
    pub figures: Vec<Figure>,
}

/// Longest title and summary kept, in bytes.
const MAX_TITLE_BYTES: usize = 4 * 1024;
const MAX_SUMMARY_BYTES: usize = 64 * 1024;

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut_at(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Whether a link may be shown as one: http or https, or relative (no scheme). A `javascript:`,
/// `data:` or `file:` link in a feed would run or open something in a reader's browser.
fn is_web_link(url: &str) -> bool {
    let scheme_end = url.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')));
    match scheme_end {
        Some(end) if end > 0 && url[end..].starts_with(':') && url.as_bytes()[0].is_ascii_alphabetic() => {
            matches!(url[..end].to_ascii_lowercase().as_str(), "http" | "https")
        }
        _ => true,
    }
}

impl Draft<'_> {
    /// The normalised item: language declared or detected, classification, countries, route and
    /// the search text.
    pub(crate) fn finish(self, context: &FeedContext, warnings: &mut Vec<String>) -> NormalisedItem {
        let mut title = if self.title.is_empty() { truncate_chars(&self.summary, 120) } else { self.title };
        let mut summary = self.summary;
        // A title or summary of megabytes (a CSV cell, a runaway feed) is cut, and told: no reader
        // needs more, and the store, the index and every subscriber would carry it.
        if title.len() > MAX_TITLE_BYTES {
            warnings.push(format!(
                "the title of `{}` was {} bytes: cut to {MAX_TITLE_BYTES}",
                self.source_key,
                title.len()
            ));
            title = truncate_chars(cut_at(&title, MAX_TITLE_BYTES), 1000);
        }
        if summary.len() > MAX_SUMMARY_BYTES {
            warnings.push(format!(
                "the summary of `{}` was {} bytes: cut to {MAX_SUMMARY_BYTES}",
                self.source_key,
                summary.len()
            ));
            summary.truncate(cut_at(&summary, MAX_SUMMARY_BYTES).len());
        }
        let text_for_detection = format!("{title}\n{summary}");
        let language = lang::resolve(self.declared_language, &text_for_detection, context.default_language.as_deref());
        let tag = language.map(|l| l.tag);

        // Normalise once; classification, routes and countries all match on the same tokens.
        let title_norm = normalise(&title);
        let summary_norm = normalise(&summary);
        let title_toks: Vec<&str> = tokens(&title_norm).collect();
        let summary_toks: Vec<&str> = tokens(&summary_norm).collect();
        let (mut classification, route) =
            classify::classify_and_route(&title_toks, &summary_toks, &self.tags, context.default_category);
        if let Some(category) = self.category {
            classification.categories.retain(|c| *c != category);
            classification.categories.insert(0, category);
            classification.category = category;
            classification.source = ClassificationSource::Mapping;
        }
        let all_toks: Vec<&str> = title_toks.iter().chain(&summary_toks).copied().collect();
        let countries = countries_of(self.countries, &title, &all_toks, &self.tags, context, warnings);
        let url = self.url.filter(|url| {
            let web = is_web_link(url);
            if !web {
                warnings
                    .push(format!("the link of `{}` is not a web address (http or https): left out", self.source_key));
            }
            web
        });
        let url_key = url.as_deref().and_then(crate::story::url_key);
        let text_key = crate::story::text_key_of_tokens(&title_toks, &summary_toks);

        NormalisedItem {
            source_key: self.source_key,
            direction: lang::direction(tag.as_deref()),
            language: tag,
            title,
            summary,
            url,
            published_at: self.published_at,
            updated_at: self.updated_at,
            classification,
            countries,
            route,
            figures: self.figures,
            search_text: format!("{title_norm} {summary_norm}"),
            url_key,
            text_key,
            provenance: None,
            deleted: false,
        }
    }
}

/// Countries stated outright, then from the entry's tags, then names in its title and summary,
/// then the feed's defaults; each country once, with the first role it was given.
fn countries_of(
    stated: Vec<CountryMention>,
    title: &str,
    toks: &[&str],
    tags: &[String],
    context: &FeedContext,
    warnings: &mut Vec<String>,
) -> Vec<CountryMention> {
    let mut found: Vec<CountryMention> = Vec::new();
    let add = |mention: CountryMention, found: &mut Vec<CountryMention>| {
        if !found.iter().any(|c| c.code == mention.code) {
            found.push(mention);
        }
    };
    for mention in stated {
        add(mention, &mut found);
    }
    let from_tags = tags.iter().filter_map(|t| geo::resolve_exact(t));
    let from_text = geo::find_in_tokens(toks);
    for m in from_tags.chain(from_text) {
        // A name the source's own country field confirms is not in doubt.
        if m.ambiguous && !found.iter().any(|c| c.code == m.code) {
            warnings.push(format!(
                "`{}` in \"{}\" may not mean {} (ambiguous name); check the item's countries",
                m.name,
                truncate_chars(title, 60),
                m.code
            ));
        }
        add(CountryMention { code: m.code, role: CountryRole::Mentioned }, &mut found);
    }
    for code in &context.default_countries {
        add(CountryMention { code: *code, role: CountryRole::Mentioned }, &mut found);
    }
    found
}
