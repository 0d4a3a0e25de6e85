//! RSS 0.9x/1.0/2.0, Atom and JSON Feed, through feed-rs.
//!
//! Item identity is ours: the entry's guid/id, else its link, else title + date. feed-rs is given an
//! id generator that marks a missing id instead of inventing one, so a generated id never becomes an
//! item's identity.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use feed_rs::model::{Entry, Feed, Text};

use crate::dates;
use crate::entry::Draft;
use crate::model::NormalisedItem;
use crate::split;
use crate::text::{html_to_text, truncate_chars, MAX_SUMMARY_CHARS};
use crate::{Chunks, ConnectorError, FeedContext, Parsed};

/// What our id generator returns; never a real id (it contains a NUL byte).
const MISSING_ID: &str = "\0missing";

/// Parses a feed document, handing normalised items to `sink` in chunks of `chunk_size` as they
/// are ready (so storing one chunk can overlap normalising the next); the first chunk is a tenth
/// of that and each next one twice the last, so storing starts early and is not left waiting for
/// a full chunk. A large XML document is parsed a slice of entries at a time (see [`split`]), so
/// storing also overlaps parsing. The returned [`Parsed`] carries the feed's title, ttl and
/// warnings; its `items` are empty.
///
/// A document that is not well-formed XML is refused before any chunk is handed over. An entry
/// feed-rs rejects inside a well-formed document (a bad character reference, say) fails the parse
/// at its slice, naming the entries of that slice; the chunks handed over before it stay handed
/// over, as the entries that could be read.
pub fn parse_chunks(
    bytes: &[u8],
    context: &FeedContext,
    chunk_size: usize,
    sink: &mut dyn FnMut(Vec<NormalisedItem>),
) -> Result<Parsed, ConnectorError> {
    let unreadable_dates: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&unreadable_dates);
    let parser = feed_rs::parser::Builder::new()
        .base_uri(context.url.as_deref())
        .id_generator(|_, _, _| MISSING_ID.to_string())
        .timestamp_parser(move |text| {
            let parsed = dates::parse_lenient(text);
            if parsed.is_none() {
                if let Ok(mut list) = seen.lock() {
                    list.push(text.chars().take(60).collect());
                }
            }
            parsed
        })
        .build();
    let parse =
        |source: &mut dyn std::io::Read| parser.parse(source).map_err(|e| ConnectorError::Invalid(e.to_string()));

    // A document that says it is UTF-8 (or says nothing, and so is) but holds bytes that are not,
    // a server mixing encodings, is read with those bytes replaced, and told.
    let repaired;
    let mut encoding_warning = None;
    let bytes = match std::str::from_utf8(bytes) {
        Err(_) if declares_utf8(bytes) => {
            let text = String::from_utf8_lossy(bytes);
            let replaced = text.matches(char::REPLACEMENT_CHARACTER).count();
            encoding_warning = Some(format!(
                "the document says it is UTF-8 but {replaced} byte sequence(s) are not: they were replaced with �"
            ));
            repaired = text.into_owned().into_bytes();
            &repaired[..]
        }
        _ => bytes,
    };
    let chunk_size = chunk_size.max(1);
    let first_chunk = crate::first_chunk_size(chunk_size);
    let mut chunker =
        Chunker { context, out: Chunks::new(chunk_size, sink), entries: 0, skipped: 0, warnings: Vec::new() };
    let mut parsed = Parsed::default();
    let mut take_metadata = |feed: &Feed| {
        if parsed.title.is_none() {
            parsed.title = feed.title.as_ref().map(text_of).filter(|t| !t.is_empty());
            parsed.ttl_minutes = feed.ttl;
        }
    };
    match split::split(bytes).filter(|split| split.entry_count() > first_chunk) {
        Some(split) => {
            // Slices grow as the chunks do, so the first chunks are parsed as soon as they are due.
            let mut start = 0;
            let mut size = first_chunk;
            while start < split.entry_count() {
                let end = split.entry_count().min(start + size);
                let feed = parse(&mut split.document(start..end)).map_err(|ConnectorError::Invalid(reason)| {
                    ConnectorError::Invalid(format!(
                        "{reason} (in entries {} to {end} of {})",
                        start + 1,
                        split.entry_count()
                    ))
                })?;
                take_metadata(&feed);
                chunker.add(&feed);
                (start, size) = (end, crate::next_chunk_size(size, chunk_size));
            }
        }
        None => {
            let feed = parse(&mut &bytes[..])?;
            take_metadata(&feed);
            chunker.add(&feed);
        }
    }
    chunker.out.flush();

    // Each unreadable date is reported once, however many entries share it (and dates in the
    // feed's own metadata are read again with every slice).
    if let Ok(list) = unreadable_dates.lock() {
        let mut reported = HashSet::new();
        for raw in list.iter().filter(|raw| reported.insert(raw.as_str())) {
            parsed.warnings.push(format!("unreadable date `{raw}`: the entry is kept without it"));
        }
    }
    parsed.warnings.extend(encoding_warning);
    parsed.warnings.append(&mut chunker.warnings);
    parsed.skipped = chunker.skipped;
    parsed.keys = chunker.out.finish();
    if chunker.out.repeated > 0 {
        parsed.warnings.push(format!(
            "{} entries repeat the identity of an earlier entry; the first of each was kept",
            chunker.out.repeated
        ));
    }
    parsed.warnings_dropped = crate::cap_warnings(&mut parsed.warnings, 0);
    Ok(parsed)
}

/// Whether an XML document is UTF-8 by its own word: its declaration names UTF-8, or it has no
/// encoding in its declaration (or no declaration), which XML reads as UTF-8.
fn declares_utf8(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(200)];
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    let Some(declaration) = head.trim_start_matches('\u{feff}').trim_start().strip_prefix("<?xml") else {
        return true;
    };
    let declaration = declaration.split("?>").next().unwrap_or("");
    match declaration.find("encoding") {
        None => true,
        Some(at) => {
            let value = declaration[at + "encoding".len()..].trim_start().trim_start_matches('=').trim_start();
            let value = value.trim_start_matches(['"', '\'']);
            value.starts_with("utf-8") || value.starts_with("utf8")
        }
    }
}

/// Normalises entries and hands them to the sink in chunks, across the parses of one document.
struct Chunker<'a> {
    context: &'a FeedContext,
    out: Chunks<'a>,
    /// Entries seen so far, to number them in warnings.
    entries: usize,
    /// Entries without an identity, left out.
    skipped: usize,
    warnings: Vec<String>,
}

impl Chunker<'_> {
    fn add(&mut self, feed: &Feed) {
        for entry in &feed.entries {
            self.entries += 1;
            match normalise_entry(feed, entry, self.context, &mut self.warnings) {
                Some(item) => self.out.push(item),
                None => {
                    self.skipped += 1;
                    self.warnings.push(format!(
                        "entry {} has no id, link, title or text to identify it and was skipped",
                        self.entries
                    ));
                }
            }
        }
    }
}

fn text_of(text: &Text) -> String {
    html_to_text(&text.content)
}

/// The entry's link: the first `alternate` (or rel-less) link, else the first link.
fn entry_link(entry: &Entry) -> Option<String> {
    entry
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .or(entry.links.first())
        .map(|l| l.href.trim().to_string())
        .filter(|href| !href.is_empty())
}

fn normalise_entry(
    feed: &Feed,
    entry: &Entry,
    context: &FeedContext,
    warnings: &mut Vec<String>,
) -> Option<NormalisedItem> {
    let title = entry.title.as_ref().map(text_of).unwrap_or_default();
    let body = entry
        .summary
        .as_ref()
        .map(|s| s.content.clone())
        .or_else(|| entry.content.as_ref().and_then(|c| c.body.clone()))
        .unwrap_or_default();
    let summary = truncate_chars(&html_to_text(&body), MAX_SUMMARY_CHARS);
    let url = entry_link(entry);
    let published_at = entry.published.or(entry.updated);
    let updated_at = entry.updated.or(entry.published);

    let id = entry.id.trim();
    let source_key = if !id.is_empty() && id != MISSING_ID {
        format!("guid:{id}")
    } else if let Some(url) = &url {
        format!("link:{url}")
    } else if !title.is_empty() {
        let date = published_at.map(|d| d.to_rfc3339()).unwrap_or_default();
        format!("title-date:{title}|{date}")
    } else if !summary.is_empty() {
        warnings.push("an entry has no id, link or title: identified by its text".to_string());
        format!("text:{summary}")
    } else {
        return None;
    };
    let title = if title.is_empty() { truncate_chars(&summary, 120) } else { title };

    let tags: Vec<String> = entry
        .categories
        .iter()
        .map(|c| c.label.clone().unwrap_or_else(|| c.term.clone()))
        .filter(|t| !t.trim().is_empty())
        .collect();
    let draft = Draft {
        source_key,
        title,
        summary,
        url,
        published_at,
        updated_at,
        declared_language: entry.language.as_deref().or(feed.language.as_deref()),
        tags,
        ..Draft::default()
    };
    Some(draft.finish(context, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Category, ClassificationSource};
    use crate::Connector;

    const RSS: &str = r#"<?xml version="1.0"?>
<rss version="2.0"><channel><title>Sample</title><language>en</language><ttl>60</ttl>
<item><guid>a-1</guid><title>Sea arrivals in Italy surge as boats leave from eastern Libya</title>
<link>https://example.org/a-1</link><pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate>
<description>&lt;p&gt;Arrivals from &lt;b&gt;Libya&lt;/b&gt; rose on the Central Mediterranean route.&lt;/p&gt;</description></item>
<item><title>No id, only a link</title><link>https://example.org/b</link><pubDate>2026-11-03</pubDate></item>
<item><title>Neither id nor link</title><pubDate>03 Nov 2026 10:00</pubDate></item>
<item><title>Odd date</title><guid>c</guid><pubDate>the day after tomorrow</pubDate></item>
</channel></rss>"#;

    #[test]
    fn bytes_that_are_not_utf8_in_a_utf8_document_are_replaced_and_told() {
        let mixed = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>Mixed</title>\
            <item><guid>u-1</guid><title>Caf\xc3\xa9 and caf\xe9</title></item></channel></rss>";
        let parsed = Connector::Rss.parse(mixed, &FeedContext::default()).unwrap();
        assert_eq!(parsed.items[0].title, "Café and caf\u{fffd}");
        assert!(parsed.warnings.iter().any(|w| w.contains("1 byte sequence(s)")), "{:?}", parsed.warnings);
        // A document in another declared encoding is feed-rs's to read, not repaired.
        assert!(!declares_utf8(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss/>"));
        assert!(declares_utf8(b"<rss version=\"2.0\"/>"));
    }

    #[test]
    fn links_that_are_not_web_addresses_are_left_out_and_told() {
        let doc = br#"<rss version="2.0"><channel><title>Links</title>
            <item><guid>a</guid><title>Script</title><link>JavaScript:alert(1)</link></item>
            <item><guid>b</guid><title>Data</title><link>data:text/html,x</link></item>
            <item><guid>c</guid><title>Web</title><link>HTTPS://example.org/c</link></item>
            <item><guid>d</guid><title>Relative</title><link>/news/d</link></item>
            </channel></rss>"#;
        let parsed = Connector::Rss.parse(doc, &FeedContext::default()).unwrap();
        let urls: Vec<Option<&str>> = parsed.items.iter().map(|i| i.url.as_deref()).collect();
        assert_eq!(urls, [None, None, Some("https://example.org/c"), Some("/news/d")]);
        assert_eq!(
            parsed.warnings.iter().filter(|w| w.contains("not a web address")).count(),
            2,
            "{:?}",
            parsed.warnings
        );
    }

    #[test]
    fn chunks_start_small_and_grow_and_keep_every_entry_in_order() {
        let entries: String =
            (0..60).map(|i| format!("<item><guid>e-{i}</guid><title>Entry {i}</title></item>")).collect();
        let doc = format!("<rss version=\"2.0\"><channel><title>Many</title>{entries}</channel></rss>");
        let mut sizes = Vec::new();
        let mut keys = Vec::new();
        parse_chunks(doc.as_bytes(), &FeedContext::default(), 20, &mut |chunk| {
            sizes.push(chunk.len());
            keys.extend(chunk.into_iter().map(|item| item.source_key));
        })
        .unwrap();
        assert_eq!(sizes, [2, 4, 8, 16, 20, 10]);
        assert_eq!(keys, (0..60).map(|i| format!("guid:e-{i}")).collect::<Vec<_>>());
    }

    /// A document with what makes splitting risky: markup-like text in CDATA, entities, comments,
    /// prefixed elements, entries without identity, repeated identities, unreadable dates in the
    /// channel and in entries, and metadata after the entries.
    fn awkward_document(entries: usize) -> String {
        let items: String = (0..entries)
            .map(|i| match i % 6 {
                0 => format!("<item><guid>g-{i}</guid><title>Route {i} via Libya</title><description><![CDATA[<p>A </item> in CDATA {i}</p>]]></description></item>\n"),
                1 => format!("<!-- before {i} --><item><title>Returns &amp; reception {i}</title><link>https://example.org/{i}</link><pubDate>sometime {i}</pubDate></item>"),
                2 => format!("<item><atom:link href=\"https://example.org/a/{i}\"/><title>Visa rules change in Spain {i}</title><pubDate>2026-11-0{} 10:00</pubDate></item>", i % 9 + 1),
                3 => "<item><guid>g-0</guid><title>A repeated identity</title></item>".to_string(),
                4 => "<item></item>".to_string(),
                _ => format!("<item><guid isPermaLink=\"false\">g-{i}</guid><description>&lt;b&gt;Funding&lt;/b&gt; for Türkiye {i}</description></item>"),
            })
            .collect();
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\
             <channel><title>Awkward</title><pubDate>not a date</pubDate><language>en</language>\n{items}\
             <ttl>45</ttl></channel></rss>"
        )
    }

    #[test]
    fn a_document_parsed_in_slices_gives_what_it_gives_whole() {
        let doc = awkward_document(95);
        let split = crate::split::split(doc.as_bytes()).expect("the document is split");
        assert_eq!(split.entry_count(), 95);
        let context = FeedContext { default_category: Some(Category::Study), ..FeedContext::default() };
        let whole = Connector::Rss.parse(doc.as_bytes(), &context).unwrap();
        assert_eq!(whole.title.as_deref(), Some("Awkward"));
        assert_eq!(whole.ttl_minutes, Some(45));
        for chunk_size in [1, 7, 30, 1000] {
            let mut items = Vec::new();
            let sliced = parse_chunks(doc.as_bytes(), &context, chunk_size, &mut |chunk| items.extend(chunk)).unwrap();
            assert_eq!(items, whole.items, "slices of {chunk_size}");
            assert_eq!(sliced.warnings, whole.warnings, "slices of {chunk_size}");
            assert_eq!((sliced.title, sliced.ttl_minutes), (whole.title.clone(), whole.ttl_minutes));
        }
        let channel_date_warnings = whole.warnings.iter().filter(|w| w.contains("`not a date`")).count();
        assert_eq!(channel_date_warnings, 1, "{:?}", whole.warnings);
        // The `</item>` inside CDATA did not end the entry (it is markup in the HTML summary).
        assert_eq!(whole.items[0].summary, "A in CDATA 0");
    }

    #[test]
    fn an_entry_feed_rs_rejects_fails_the_parse_naming_its_slice() {
        let doc = awkward_document(60).replacen("<item><guid>g-54</guid>", "<item><guid>g-54&#0;</guid>", 1);
        assert!(Connector::Rss.parse(doc.as_bytes(), &FeedContext::default()).is_err(), "whole, too");
        let mut handed_over = 0;
        let result = parse_chunks(doc.as_bytes(), &FeedContext::default(), 10, &mut |chunk| handed_over += chunk.len());
        let error = result.expect_err("the bad entry fails the parse").to_string();
        assert!(error.contains("in entries 46 to 55 of 60"), "{error}");
        // Said once (the fuzzer found it said twice: fuzz/seeds/rss/double-prefix.xml).
        assert_eq!(error.matches("not a valid feed").count(), 1, "{error}");
        assert!(handed_over > 0 && handed_over < 60, "the entries before it were handed over: {handed_over}");
    }

    #[test]
    fn a_malformed_document_stores_nothing_even_when_large() {
        let mut doc = awkward_document(60);
        doc.truncate(doc.len() - 200);
        let mut chunks = 0;
        let result = parse_chunks(doc.as_bytes(), &FeedContext::default(), 10, &mut |_| chunks += 1);
        assert!(result.is_err());
        assert_eq!(chunks, 0);
    }

    #[test]
    fn identity_is_guid_else_link_else_title_and_date() {
        let parsed = Connector::Rss.parse(RSS.as_bytes(), &FeedContext::default()).unwrap();
        let keys: Vec<&str> = parsed.items.iter().map(|i| i.source_key.as_str()).collect();
        assert_eq!(keys[0], "guid:a-1");
        assert_eq!(keys[1], "link:https://example.org/b");
        assert_eq!(keys[2], "title-date:Neither id nor link|2026-11-03T10:00:00+00:00");
    }

    #[test]
    fn entries_are_normalised() {
        let parsed = Connector::Rss.parse(RSS.as_bytes(), &FeedContext::default()).unwrap();
        let first = &parsed.items[0];
        assert_eq!(first.summary, "Arrivals from Libya rose on the Central Mediterranean route.");
        assert_eq!(first.language.as_deref(), Some("en"));
        assert_eq!(first.direction, "ltr");
        assert_eq!(first.classification.category, Category::RouteChange);
        assert_eq!(first.classification.source, ClassificationSource::Rule);
        let codes: Vec<&str> = first.countries.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(codes, ["IT", "LY"]);
        assert_eq!(first.route.as_deref(), Some("Central Mediterranean"));
        assert_eq!(parsed.ttl_minutes, Some(60));
    }

    #[test]
    fn an_unreadable_date_is_a_warning_and_the_entry_is_kept() {
        let parsed = Connector::Rss.parse(RSS.as_bytes(), &FeedContext::default()).unwrap();
        assert_eq!(parsed.items.len(), 4);
        assert!(parsed.items[3].published_at.is_none());
        assert!(parsed.warnings.iter().any(|w| w.contains("the day after tomorrow")), "{:?}", parsed.warnings);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(Connector::Rss.parse(b"<html><body>not a feed</body></html>", &FeedContext::default()).is_err());
        assert!(Connector::Rss.parse(b"", &FeedContext::default()).is_err());
    }
}
