//! OPML, the outline format feed readers exchange subscription lists in: reading the feeds an
//! outline lists (any depth of folders), and writing a list of feeds.

use quick_xml::events::Event;
use quick_xml::Reader;

/// A feed an OPML document lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outline {
    /// Its `xmlUrl`.
    pub url: String,
    /// Its `title`, else its `text`.
    pub title: Option<String>,
}

/// Most outlines read from one document.
pub const MAX_OUTLINES: usize = 1000;

/// The feeds of an OPML document: every `outline` with an `xmlUrl`, in document order, folders
/// flattened. An error says why the document is not OPML.
pub fn read(text: &str) -> Result<Vec<Outline>, String> {
    let mut reader = Reader::from_str(text);
    let mut outlines = Vec::new();
    let mut saw_opml = false;
    loop {
        let event =
            reader.read_event().map_err(|e| format!("not valid XML at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name().as_ref().to_ascii_lowercase();
                if name == "opml" {
                    saw_opml = true;
                }
                if name != "outline" {
                    continue;
                }
                let mut url = None;
                let mut title = None;
                let mut text = None;
                for attribute in e.attributes().flatten() {
                    let key = attribute.key.as_ref().to_ascii_lowercase();
                    let value = html_escape::decode_html_entities(&attribute.value).trim().to_string();
                    match key.as_str() {
                        "xmlurl" if !value.is_empty() => url = Some(value),
                        "title" if !value.is_empty() => title = Some(value),
                        "text" if !value.is_empty() => text = Some(value),
                        _ => {}
                    }
                }
                if let Some(url) = url {
                    if outlines.len() == MAX_OUTLINES {
                        return Err(format!("the document lists more than {MAX_OUTLINES} feeds; import it in parts"));
                    }
                    outlines.push(Outline { url, title: title.or(text) });
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_opml {
        return Err("not an OPML document (no <opml> element)".into());
    }
    Ok(outlines)
}

/// An OPML 2.0 document titled `title` listing `feeds` as (URL, title).
pub fn write(title: &str, feeds: &[(String, Option<String>)]) -> String {
    let escape = |s: &str| html_escape::encode_double_quoted_attribute(s).into_owned();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n  <head>\n");
    out.push_str(&format!("    <title>{}</title>\n  </head>\n  <body>\n", html_escape::encode_text(title)));
    for (url, feed_title) in feeds {
        let text = feed_title.as_deref().unwrap_or(url);
        out.push_str(&format!(
            "    <outline type=\"rss\" text=\"{}\" title=\"{}\" xmlUrl=\"{}\"/>\n",
            escape(text),
            escape(text),
            escape(url)
        ));
    }
    out.push_str("  </body>\n</opml>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlines_are_read_from_any_depth_and_written_back() {
        let opml = r#"<?xml version="1.0"?><opml version="2.0"><head><title>PERCO</title></head><body>
            <outline text="France"><outline type="rss" text="Actualités &amp; migrations" xmlUrl="https://fr.example/rss?a=1&amp;b=2"/></outline>
            <outline text="A folder without a feed"/>
            <outline type="rss" title="Italy" text="ignored" xmlUrl=" https://it.example/feed.xml "/>
        </body></opml>"#;
        let outlines = read(opml).unwrap();
        assert_eq!(
            outlines,
            [
                Outline {
                    url: "https://fr.example/rss?a=1&b=2".into(), title: Some("Actualités & migrations".into())
                },
                Outline { url: "https://it.example/feed.xml".into(), title: Some("Italy".into()) },
            ]
        );
        let written =
            write("PERCO & partners", &outlines.iter().map(|o| (o.url.clone(), o.title.clone())).collect::<Vec<_>>());
        assert!(written.contains("<title>PERCO &amp; partners</title>"), "{written}");
        assert_eq!(read(&written).unwrap(), outlines, "what is written reads back the same");
        assert!(read("<rss></rss>").unwrap_err().contains("not an OPML document"));
        assert!(read("<opml><body><outline xmlUrl=\"x").is_err(), "broken XML is an error");
    }
}
