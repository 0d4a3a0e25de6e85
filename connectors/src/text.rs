//! Text handling shared by every connector: safe HTML-to-text, whitespace clean-up, and the one
//! normaliser (case, diacritics, Arabic letter variants) used for matching and for the search column.

/// Longest summary kept, in characters; longer text is cut at a word boundary with an ellipsis.
pub const MAX_SUMMARY_CHARS: usize = 2000;

/// Turns HTML (or plain text that may contain markup) into plain text.
///
/// A small state machine rather than a regex: tags, comments and declarations are dropped, the
/// contents of `script`, `style`, `template`, `noscript`, `iframe`, `object` and `svg` are dropped
/// whole, block-level tags become line breaks, entities are decoded once (after tags are removed,
/// so `&lt;script&gt;` becomes the literal text `<script>` and is never interpreted as markup).
pub fn html_to_text(html: &str) -> String {
    const SKIP_CONTENT: [&str; 7] = ["script", "style", "template", "noscript", "iframe", "object", "svg"];
    const BLOCK: [&str; 16] =
        ["p", "br", "div", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr"];
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let Some(tag) = parse_tag(rest) else {
            // A lone '<' (as in "a < b") is text, not markup.
            out.push('<');
            rest = &rest[1..];
            continue;
        };
        rest = &rest[tag.len..];
        let name = tag.name.to_ascii_lowercase();
        if !tag.closing && SKIP_CONTENT.contains(&name.as_str()) {
            rest = skip_until_close(rest, &name);
            continue;
        }
        if BLOCK.contains(&name.as_str()) {
            out.push('\n');
        } else if !name.is_empty() {
            // Inline tags still separate words in practice ("a<span>b</span>" is rare, "end.<b>Next" common).
            out.push(' ');
        }
    }
    out.push_str(rest);
    let decoded = html_escape::decode_html_entities(&out);
    clean_whitespace(&decoded)
}

struct Tag<'a> {
    name: &'a str,
    closing: bool,
    len: usize,
}

/// Parses a tag at the start of `s` (which begins with '<'); `None` when it is not markup.
fn parse_tag(s: &str) -> Option<Tag<'_>> {
    let bytes = s.as_bytes();
    let mut i = 1;
    let closing = bytes.get(1) == Some(&b'/');
    if closing {
        i += 1;
    }
    let declaration = matches!(bytes.get(i), Some(b'!') | Some(b'?'));
    if !declaration && !bytes.get(i).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let name_start = i;
    while bytes.get(i).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b':') {
        i += 1;
    }
    let name = if declaration { "" } else { &s[name_start..i] };
    // Find the closing '>' outside quoted attribute values.
    let mut quote: Option<u8> = None;
    while let Some(&b) = bytes.get(i) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"') | (None, b'\'') => quote = Some(b),
            (None, b'>') => {
                return Some(Tag { name, closing, len: i + 1 });
            }
            _ => {}
        }
        i += 1;
    }
    // Unterminated tag: drop the rest rather than leak half a tag into the text.
    Some(Tag { name, closing, len: s.len() })
}

/// The text after the closing tag `</name…>`, or nothing when it is never closed. Scans forward
/// once without copying, so many such tags in one document cost linear time.
fn skip_until_close<'a>(s: &'a str, name: &str) -> &'a str {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(pos) = s[from..].find("</") {
        let start = from + pos + 2;
        let end = start + name.len();
        if bytes.get(start..end).is_some_and(|candidate| candidate.eq_ignore_ascii_case(name.as_bytes())) {
            return s[end..].find('>').map_or("", |gt| &s[end + gt + 1..]);
        }
        from = start;
    }
    ""
}

/// Collapses runs of spaces, keeps at most one blank line between paragraphs, trims the ends and
/// removes control characters.
pub fn clean_whitespace(text: &str) -> String {
    let bytes = text.as_bytes();
    let char_at = |i: usize| text[i..].chars().next().expect("i is at a character boundary");
    let dropped = |c: char| c.is_whitespace() || c.is_control() || c == '\u{FEFF}';
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    let mut newlines = 0;
    let mut i = 0;
    while i < bytes.len() {
        // A run of kept characters, copied at once; ASCII is classified without decoding.
        let start = i;
        while i < bytes.len() {
            let len = match bytes[i] {
                b if b.is_ascii() && (b <= b' ' || b == 0x7f) => break,
                b if b.is_ascii() => 1,
                _ => match char_at(i) {
                    c if dropped(c) => break,
                    c => c.len_utf8(),
                },
            };
            i += len;
        }
        if i > start {
            if !out.is_empty() {
                if newlines > 0 {
                    out.push_str(if newlines > 1 { "\n\n" } else { "\n" });
                } else if pending_space {
                    out.push(' ');
                }
            }
            newlines = 0;
            pending_space = false;
            out.push_str(&text[start..i]);
        }
        // Then one dropped character: a line break, other white space, or a control character.
        if i < bytes.len() {
            let c = char_at(i);
            if c == '\n' {
                newlines += 1;
                pending_space = false;
            } else if c.is_whitespace() {
                pending_space = true;
            }
            i += c.len_utf8();
        }
    }
    out
}

/// Cuts `text` to at most `max` characters at a word boundary, adding an ellipsis when cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    let at_word = cut.rfind(char::is_whitespace).filter(|&p| p > max / 2).unwrap_or(cut.len());
    format!("{}…", cut[..at_word].trim_end())
}

/// The one normaliser for matching and search: lowercase, diacritics removed (NFD, combining marks
/// dropped), Arabic letter variants unified (أ إ آ ٱ → ا, ة → ه, ى → ي, ؤ → و, ئ → ي), tatweel and
/// harakat removed, Russian ё → е, and every non-alphanumeric run turned into one space.
pub fn normalise(text: &str) -> String {
    let mut out = Normalised { text: String::with_capacity(text.len()), space: true };
    for c in text.chars() {
        if c.is_ascii() {
            // ASCII has nothing to decompose or fold: the common case, kept off the Unicode tables.
            if c.is_ascii_alphanumeric() {
                out.text.push(c.to_ascii_lowercase());
                out.space = false;
            } else {
                out.separate();
            }
        } else {
            // Marks are dropped, so canonical reordering is not needed: decompose char by char.
            unicode_normalization::char::decompose_canonical(c, |d| out.push(d));
        }
    }
    if out.text.ends_with(' ') {
        out.text.pop();
    }
    out.text
}

/// The normaliser's output under construction.
struct Normalised {
    text: String,
    /// Whether the text ends with a separator (or is empty).
    space: bool,
}

impl Normalised {
    fn separate(&mut self) {
        if !self.space {
            self.text.push(' ');
            self.space = true;
        }
    }

    fn push(&mut self, c: char) {
        if is_combining_mark(c) || c == '\u{0640}' {
            return;
        }
        let c = match c {
            'أ' | 'إ' | 'آ' | 'ٱ' => 'ا',
            'ة' => 'ه',
            'ى' | 'ئ' => 'ي',
            'ؤ' => 'و',
            'ё' | 'Ё' => 'е',
            other => other,
        };
        if c.is_alphanumeric() {
            self.text.extend(c.to_lowercase());
            self.space = false;
        } else {
            self.separate();
        }
    }
}

/// Combining marks removed by [`normalise`]: Latin/Cyrillic diacritics and Arabic harakat.
fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}'
        | '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{06D6}'..='\u{06ED}')
}

/// Lower-case hexadecimal of `bytes`, in one allocation.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// A fast, non-cryptographic hasher for the matchers' token maps (the FxHash mix): the keys are
/// our own rule terms, so flooding is not a concern, and SipHash dominated matching time.
#[derive(Default, Clone, Copy)]
pub struct TokenHasher(u64);

impl TokenHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for TokenHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Whole words read directly, the tail assembled byte by byte: no copy through a buffer.
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.mix(u64::from_le_bytes(word.try_into().expect("chunks_exact yields 8 bytes")));
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            self.mix(tail.iter().rev().fold(0, |word, &b| word << 8 | u64::from(b)));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.mix(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` keyed by tokens, with [`TokenHasher`].
pub type TokenMap<V> = std::collections::HashMap<String, V, std::hash::BuildHasherDefault<TokenHasher>>;

/// Splits normalised text into tokens.
pub fn tokens(normalised: &str) -> impl Iterator<Item = &str> {
    normalised.split(' ').filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_stripped_and_entities_decoded_once() {
        let html = "<p>Arrivals &amp; departures</p><script>alert(1)</script><p>See <a href=\"x\">the &lt;b&gt; report</a></p>";
        assert_eq!(html_to_text(html), "Arrivals & departures\n\nSee the <b> report");
    }

    #[test]
    fn lone_angle_brackets_are_text() {
        assert_eq!(html_to_text("a < b and c > d"), "a < b and c > d");
    }

    #[test]
    fn unterminated_markup_does_not_leak() {
        assert_eq!(html_to_text("text <img src=\"x\" onerror=\"alert(1)"), "text");
        assert_eq!(html_to_text("x <!-- never closed"), "x");
        assert_eq!(html_to_text("<STYLE>p{}</style>ok"), "ok");
    }

    #[test]
    fn many_unclosed_skipped_tags_cost_linear_time() {
        let hostile = "<svg>".repeat(200_000);
        let started = std::time::Instant::now();
        assert_eq!(html_to_text(&hostile), "");
        let closed = "<svg>x</svg>y".repeat(100_000);
        assert_eq!(html_to_text(&closed).len(), 100_000);
        // Generous: quadratic behaviour takes minutes here, linear a few milliseconds.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn quoted_gt_inside_attribute_does_not_end_the_tag() {
        assert_eq!(html_to_text("<a title=\"1 > 0\">link</a>"), "link");
    }

    #[test]
    fn normalise_folds_case_diacritics_and_arabic_variants() {
        assert_eq!(normalise("Réfugiés À Calais"), "refugies a calais");
        assert_eq!(normalise("Ёлка"), "елка");
        assert_eq!(normalise("إغلاق الحدودَ"), "اغلاق الحدود");
        assert_eq!(normalise("المهاجرة"), "المهاجره");
        assert_eq!(normalise("  EU-Pact, 2026!  "), "eu pact 2026");
    }

    #[test]
    fn whitespace_is_collapsed_and_controls_dropped() {
        assert_eq!(clean_whitespace("  a \t b\u{a0}c  "), "a b c");
        assert_eq!(clean_whitespace("one\n\n\n\ntwo\nthree \n four"), "one\n\ntwo\nthree\nfour");
        assert_eq!(clean_whitespace("x\u{1}y\u{FEFF}z \u{7}\u{7} é\u{85}"), "xyz é");
        assert_eq!(clean_whitespace("\n\u{2003}\n"), "");
    }

    #[test]
    fn hex_is_lower_case_and_two_digits_a_byte() {
        assert_eq!(hex(&[0, 15, 16, 255]), "000f10ff");
    }

    #[test]
    fn truncation_happens_at_a_word_boundary() {
        let cut = truncate_chars("one two three four five", 12);
        assert_eq!(cut, "one two…");
    }
}
