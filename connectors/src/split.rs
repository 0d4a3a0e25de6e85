//! Splitting a large XML feed at its entries, so feed-rs can parse it a few thousand entries at a
//! time and the first entries can be stored while the rest are still being parsed.
//!
//! Each slice is parsed as the document's own frame around a run of its entries: everything
//! before the first entry (prolog, doctype, root and channel elements with their namespaces and
//! metadata), the entries, and everything after the last one. A document is split only when that
//! gives feed-rs exactly what the whole document would: its entries are siblings in the place
//! feed-rs reads them from, with nothing but whitespace and comments between them, and the frame
//! is small. Anything else — JSON Feed, a UTF-16 document, an XML error anywhere, metadata between
//! entries — is left whole, and feed-rs reports on it as before.

use std::io::Read;
use std::ops::Range;

use quick_xml::events::Event;
use quick_xml::Reader;

/// Most bytes of frame (everything outside the entries) repeated around every slice.
const MAX_FRAME_BYTES: usize = 64 * 1024;

/// A feed document cut at its entries.
#[derive(Debug)]
pub struct Split<'a> {
    bytes: &'a [u8],
    /// The byte range of each entry, in document order.
    entries: Vec<Range<usize>>,
}

impl<'a> Split<'a> {
    /// How many entries the document has.
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    /// A complete document holding the frame and `entries` (a non-empty range of entry indexes,
    /// below [`Split::entry_count`]; anything else panics), to read without copying the entries.
    pub fn document(&self, entries: Range<usize>) -> impl std::io::Read + 'a {
        let first = self.entries[0].start;
        let last = self.entries[self.entries.len() - 1].end;
        let body = self.entries[entries.start].start..self.entries[entries.end - 1].end;
        let bytes = self.bytes;
        (&bytes[..first]).chain(&bytes[body]).chain(&bytes[last..])
    }
}

/// Where entries sit in each kind of feed: the root element, and the element directly holding the
/// entries (the root itself, or RSS's `channel`).
fn entry_place(root: &str) -> Option<(&'static str, &'static str)> {
    match root {
        "rss" => Some(("channel", "item")),
        "RDF" => Some(("RDF", "item")),
        "feed" => Some(("feed", "entry")),
        _ => None,
    }
}

/// Cuts `bytes` at its entries, or `None` when it should be parsed whole (see the module docs).
pub fn split(bytes: &[u8]) -> Option<Split<'_>> {
    // Without a UTF-8 byte order mark, so positions count from the first byte the reader sees.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'<') {
        return None;
    }
    let mut reader = Reader::from_reader(bytes);
    // Local names of the elements open at the current position, root first (entries are skipped
    // whole, so this holds only the few elements of the frame).
    let mut open: Vec<String> = Vec::new();
    let mut place: Option<(&str, &str)> = None;
    let mut entries: Vec<Range<usize>> = Vec::new();
    // Something other than whitespace or a comment since the last entry ended.
    let mut other_since_entry = false;
    loop {
        let before = usize::try_from(reader.buffer_position()).ok()?;
        let event = reader.read_event().ok()?;
        let entry_here = |name: &str| {
            place.is_some_and(|(parent, entry)| {
                name == entry && open.len() <= 2 && open.last().is_some_and(|p| p == parent)
            })
        };
        match event {
            Event::Start(e) if entry_here(e.local_name().into_inner()) => {
                if other_since_entry && !entries.is_empty() {
                    return None;
                }
                let name = e.name().into_inner().to_string();
                reader.read_to_end(quick_xml::name::QName(&name)).ok()?;
                entries.push(before..usize::try_from(reader.buffer_position()).ok()?);
                other_since_entry = false;
            }
            Event::Empty(e) if entry_here(e.local_name().into_inner()) => {
                if other_since_entry && !entries.is_empty() {
                    return None;
                }
                entries.push(before..usize::try_from(reader.buffer_position()).ok()?);
                other_since_entry = false;
            }
            Event::Start(e) => {
                let name = e.local_name().into_inner().to_string();
                if open.is_empty() {
                    place = Some(entry_place(&name)?);
                }
                open.push(name);
                other_since_entry = true;
            }
            Event::End(_) => {
                open.pop();
                other_since_entry = true;
            }
            Event::Text(text) if text.trim_ascii().is_empty() => {}
            Event::Comment(_) => {}
            // Positions are counted in bytes of the document as it is; only UTF-8 is split.
            Event::Decl(decl) if decl.encoding().is_some_and(|e| !e.is_ok_and(|e| e.eq_ignore_ascii_case("utf-8"))) => {
                return None;
            }
            // A document cut short is left to feed-rs to judge.
            Event::Eof if !open.is_empty() => return None,
            Event::Eof => break,
            _ => other_since_entry = true,
        }
    }
    let first = entries.first()?.start;
    let last = entries.last()?.end;
    let frame = first + (bytes.len() - last);
    // The last check guards the positions themselves: a range must start at its element.
    if entries.len() < 2 || frame > MAX_FRAME_BYTES || !bytes[first..].starts_with(b"<") {
        return None;
    }
    Some(Split { bytes, entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(split: &Split<'_>, entries: Range<usize>) -> String {
        let mut text = String::new();
        split.document(entries).read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn an_rss_document_is_cut_between_its_items() {
        let doc = "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>T</title>\n\
                   <item><title>a</title></item>\n<!-- note --><item><title><![CDATA[</item>]]></title></item>\
                   <item/></channel></rss>\n";
        let split = split(doc.as_bytes()).expect("split");
        assert_eq!(split.entry_count(), 3);
        assert_eq!(
            read(&split, 1..2),
            "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>T</title>\n\
             <item><title><![CDATA[</item>]]></title></item></channel></rss>\n"
        );
        assert_eq!(read(&split, 0..3), doc, "all the entries together give back the document");
    }

    #[test]
    fn a_byte_order_mark_is_left_out_of_the_frame() {
        let doc = "\u{feff}<feed><title>T</title><entry><id>1</id></entry><entry><id>2</id></entry></feed>";
        let split = split(doc.as_bytes()).expect("split");
        assert_eq!(read(&split, 1..2), "<feed><title>T</title><entry><id>2</id></entry></feed>");
    }

    #[test]
    fn atom_and_rdf_entries_sit_under_the_root() {
        let atom = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>T</title><entry><id>1</id></entry>\
                    <entry><id>2</id></entry></feed>";
        assert_eq!(split(atom.as_bytes()).map(|s| s.entry_count()), Some(2));
        let rdf = "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns=\"http://purl.org/rss/1.0/\">\
                   <channel><title>T</title></channel><item><title>1</title></item><item><title>2</title></item></rdf:RDF>";
        assert_eq!(split(rdf.as_bytes()).map(|s| s.entry_count()), Some(2));
    }

    #[test]
    fn documents_that_cannot_be_cut_safely_stay_whole() {
        let cases = [
            ("JSON Feed", "{\"version\": \"https://jsonfeed.org/version/1.1\", \"items\": []}".to_string()),
            ("one entry", "<rss><channel><item><title>a</title></item></channel></rss>".to_string()),
            ("metadata between entries", "<rss><channel><item/><ttl>5</ttl><item/></channel></rss>".to_string()),
            ("text between entries", "<feed><entry/>stray<entry/></feed>".to_string()),
            ("broken XML", "<rss><channel><item></channel><item/></rss>".to_string()),
            ("cut short after an entry", "<rss><channel><item/><item/>".to_string()),
            (
                "not UTF-8",
                "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss><channel><item/><item/></channel></rss>"
                    .to_string(),
            ),
            ("not a feed", "<html><body><item/><item/></body></html>".to_string()),
            ("items outside the channel", "<rss><channel/><item/><item/></rss>".to_string()),
            (
                "a large frame",
                format!(
                    "<rss><channel><description>{}</description><item/><item/></channel></rss>",
                    "x".repeat(70_000)
                ),
            ),
        ];
        for (case, doc) in cases {
            assert!(split(doc.as_bytes()).is_none(), "{case} was split");
        }
    }
}
