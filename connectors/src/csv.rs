//! Reading CSV files as publishers write them: the text encoding, the delimiter, and HXL hashtag
//! rows, before any mapping turns rows into items.
//!
//! - Encoding: UTF-8 with or without a byte order mark; anything that is not valid UTF-8 is read
//!   as Windows-1252 (a superset of Latin-1), with a warning.
//! - Delimiter: comma, semicolon or tab, whichever splits the first lines most consistently.
//! - HXL: the hashtag row is found as the HXL tools find it — the first of the first 25 rows where
//!   at least half of the non-empty cells are hashtag specs (`#affected +f +children`) — and the
//!   row above it, if any, holds the human headers.

use std::borrow::Cow;

/// Rows searched for an HXL hashtag row.
const HXL_SEARCH_ROWS: usize = 25;

/// Lines sampled to choose the delimiter.
const DELIMITER_SAMPLE_LINES: usize = 20;

/// The delimiters tried, most common first (a tie goes to the earlier one).
const DELIMITERS: [u8; 3] = [b',', b';', b'\t'];

/// The file's text as UTF-8, and a warning when it had to be decoded from Windows-1252.
pub fn decode(bytes: &[u8]) -> (Cow<'_, str>, Option<String>) {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => (Cow::Borrowed(text), None),
        Err(e) => {
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
            let warning = format!(
                "the file is not UTF-8 (byte {} is invalid); it was read as Latin-1/Windows-1252",
                e.valid_up_to() + 1
            );
            (Cow::Owned(text.into_owned()), Some(warning))
        }
    }
}

/// The delimiter that splits the first lines into the most columns, consistently. Quoted fields
/// are skipped, so a comma inside quotes does not count.
pub fn detect_delimiter(text: &str) -> u8 {
    let lines = sample_lines(text);
    let score = |delimiter: u8| {
        let counts: Vec<usize> = lines.iter().map(|line| count_outside_quotes(line, delimiter)).collect();
        let first = counts.first().copied().unwrap_or(0);
        if first == 0 {
            return (0, 0);
        }
        // Lines agreeing with the first line's count, then the count itself.
        (counts.iter().filter(|&&c| c == first).count(), first)
    };
    DELIMITERS.iter().copied().max_by_key(|&d| (score(d), std::cmp::Reverse(rank(d)))).unwrap_or(b',')
}

fn rank(delimiter: u8) -> usize {
    DELIMITERS.iter().position(|&d| d == delimiter).unwrap_or(DELIMITERS.len())
}

/// The first lines of `text`, whole records only as far as quotes allow telling.
fn sample_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => {
                lines.push(text[start..i].trim_end_matches('\r'));
                start = i + 1;
                if lines.len() == DELIMITER_SAMPLE_LINES {
                    return lines;
                }
            }
            _ => {}
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines.retain(|l| !l.trim().is_empty());
    lines
}

fn count_outside_quotes(line: &str, delimiter: u8) -> usize {
    let mut quoted = false;
    line.bytes()
        .filter(|&b| {
            if b == b'"' {
                quoted = !quoted;
            }
            b == delimiter && !quoted
        })
        .count()
}

/// An HXL hashtag with its attributes, lower-cased: `#affected +f +children` is tag `affected`
/// with attributes `f` and `children`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HxlTag {
    /// The tag without `#`.
    pub tag: String,
    /// The attributes without `+`, in the order written.
    pub attributes: Vec<String>,
}

impl HxlTag {
    /// Parses a hashtag spec; `None` when the cell is not one. As in HXL, space may come before a
    /// `+` but not after it or after the `#`.
    pub fn parse(cell: &str) -> Option<HxlTag> {
        let cell = cell.trim();
        let rest = cell.strip_prefix('#')?;
        let mut parts = rest.split('+');
        let tag = parts.next()?.trim_end();
        if !is_hxl_name(tag) {
            return None;
        }
        let mut attributes = Vec::new();
        for attribute in parts {
            let attribute = attribute.trim_end();
            if !is_hxl_name(attribute) {
                return None;
            }
            attributes.push(attribute.to_ascii_lowercase());
        }
        Some(HxlTag { tag: tag.to_ascii_lowercase(), attributes })
    }

    /// Whether the tag carries attribute `name`.
    pub fn has(&self, name: &str) -> bool {
        self.attributes.iter().any(|a| a == name)
    }
}

/// HXL names: a letter, then letters, digits and underscores.
fn is_hxl_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Where a file's HXL hashtag row is, and what its columns are tagged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HxlRow {
    /// Index of the hashtag row among the file's records (0-based).
    pub index: usize,
    /// Each column's tag; `None` for an untagged column.
    pub tags: Vec<Option<HxlTag>>,
}

/// Finds the hashtag row among the first records, as the HXL tools do: the first row where at
/// least half of the non-empty cells are hashtag specs.
pub fn find_hxl_row(records: &[Vec<String>]) -> Option<HxlRow> {
    records.iter().take(HXL_SEARCH_ROWS).enumerate().find_map(|(index, record)| {
        let cells: Vec<&str> = record.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect();
        let tagged = cells.iter().filter(|c| HxlTag::parse(c).is_some()).count();
        (tagged > 0 && tagged * 2 >= cells.len())
            .then(|| HxlRow { index, tags: record.iter().map(|c| HxlTag::parse(c)).collect() })
    })
}

/// A CSV file read as records of cells, with its HXL tags and human headers when it has them.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// The human header of each column: the row above the hashtag row, else the first row.
    pub headers: Vec<String>,
    /// Each column's HXL tag, when the file has a hashtag row.
    pub tags: Option<Vec<Option<HxlTag>>>,
    /// The data rows, after the header (and hashtag) rows, each with its 1-based line of the file.
    pub rows: Vec<(u64, Vec<String>)>,
    /// What a publisher should know (encoding fallback, rows of the wrong width).
    pub warnings: Vec<String>,
}

/// Why a file could not be read as CSV at all.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The file has no header row.
    #[error("the file is empty")]
    Empty,
    /// The csv reader failed.
    #[error("not a readable CSV file: {0}")]
    Unreadable(String),
}

/// Reads a whole CSV file: decoding, delimiter, header and HXL rows.
pub fn read_table(bytes: &[u8]) -> Result<Table, CsvError> {
    let (text, encoding_warning) = decode(bytes);
    let delimiter = detect_delimiter(&text);
    let mut reader =
        ::csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut records: Vec<(u64, Vec<String>)> = Vec::new();
    for result in reader.records() {
        let record = result.map_err(|e| CsvError::Unreadable(e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        records.push((line, record.iter().map(str::to_string).collect()));
    }
    let leading: Vec<Vec<String>> = records.iter().take(HXL_SEARCH_ROWS).map(|(_, r)| r.clone()).collect();
    let (headers, tags, first_data) = match find_hxl_row(&leading) {
        Some(hxl) => {
            let headers = hxl.index.checked_sub(1).map(|above| records[above].1.clone()).unwrap_or_default();
            (headers, Some(hxl.tags), hxl.index + 1)
        }
        None => (records.first().ok_or(CsvError::Empty)?.1.clone(), None, 1),
    };
    let mut table = Table { headers, tags, rows: records.split_off(first_data.min(records.len())), ..Table::default() };
    table.warnings.extend(encoding_warning);
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(table: &Table) -> Vec<String> {
        let tags = table.tags.as_ref().expect("hashtag row");
        tags.iter()
            .map(|t| {
                t.as_ref()
                    .map(|t| format!("#{}{}", t.tag, t.attributes.iter().map(|a| format!("+{a}")).collect::<String>()))
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn hashtag_specs_parse_with_their_attributes() {
        let tag = HxlTag::parse(" #Affected +F +children ").unwrap();
        assert_eq!(tag, HxlTag { tag: "affected".into(), attributes: vec!["f".into(), "children".into()] });
        assert!(tag.has("children"));
        for not_a_tag in ["", "#", "affected", "#1x", "# affected", "#affected +", "#affected+f-m", "Affected people"] {
            assert_eq!(HxlTag::parse(not_a_tag), None, "{not_a_tag:?}");
        }
    }

    #[test]
    fn tags_on_row_three_under_two_header_rows() {
        let csv = "Displacement sites,,\nCountry,Site,People\n#country+code,#loc+name,#affected+idps\nSO,Baidoa,1200\n";
        let table = read_table(csv.as_bytes()).unwrap();
        assert_eq!(table.headers, ["Country", "Site", "People"]);
        assert_eq!(tags(&table), ["#country+code", "#loc+name", "#affected+idps"]);
        assert_eq!(table.rows, [(4, vec!["SO".to_string(), "Baidoa".into(), "1200".into()])]);
    }

    #[test]
    fn a_junk_row_first_is_passed_over() {
        let csv = "Downloaded 2026-11-02 from the portal\n#country+name,#date,#affected\nItaly,2026-10-01,35\n";
        let table = read_table(csv.as_bytes()).unwrap();
        assert_eq!(table.headers, ["Downloaded 2026-11-02 from the portal"]);
        assert_eq!(tags(&table), ["#country+name", "#date", "#affected"]);
        assert_eq!(table.rows.len(), 1);
    }

    #[test]
    fn a_partly_tagged_row_counts_when_at_least_half_its_cells_are_tags() {
        let half = "Name,Notes,Count,Extra\n#org,free text,#value,\nIFRC,x,3,\n";
        assert_eq!(tags(&read_table(half.as_bytes()).unwrap()), ["#org", "", "#value", ""]);
        let less = "Name,Notes,Count\n#org,free text,more text\nIFRC,x,3\n";
        let table = read_table(less.as_bytes()).unwrap();
        assert!(table.tags.is_none(), "one tag in three cells is not a hashtag row");
        assert_eq!(table.headers, ["Name", "Notes", "Count"]);
        assert_eq!(table.rows.len(), 2);
    }

    #[test]
    fn a_file_without_tags_has_its_first_row_as_headers() {
        let table = read_table(b"country;date;arrivals\nItaly;2026-10-01;35\nGreece;2026-10-01;12\n").unwrap();
        assert!(table.tags.is_none());
        assert_eq!(table.headers, ["country", "date", "arrivals"]);
        assert_eq!(table.rows[1].1, ["Greece", "2026-10-01", "12"]);
    }

    #[test]
    fn latin_1_is_read_with_a_warning_and_a_bom_is_dropped() {
        let latin1 = b"pays,personnes\nC\xf4te d'Ivoire,12\n";
        let table = read_table(latin1).unwrap();
        assert_eq!(table.rows[0].1[0], "Côte d'Ivoire");
        assert!(table.warnings.iter().any(|w| w.contains("Windows-1252")), "{:?}", table.warnings);
        let bom = "\u{feff}pays,personnes\nCôte d'Ivoire,12\n";
        let table = read_table(bom.as_bytes()).unwrap();
        assert_eq!(table.headers, ["pays", "personnes"]);
        assert!(table.warnings.is_empty());
    }

    #[test]
    fn quoted_cells_keep_their_line_breaks_and_delimiters() {
        let csv = "title\tsummary\tcount\n\"Route, closed\"\t\"first line\nsecond line\"\t3\nNext\tplain\t4\n";
        assert_eq!(detect_delimiter(csv), b'\t');
        let table = read_table(csv.as_bytes()).unwrap();
        assert_eq!(table.rows[0].1, ["Route, closed", "first line\nsecond line", "3"]);
        assert_eq!(table.rows[1], (4, vec!["Next".to_string(), "plain".into(), "4".into()]));
    }

    #[test]
    fn the_delimiter_is_the_one_that_splits_lines_consistently() {
        assert_eq!(detect_delimiter("a,b,c\n1,2,3\n"), b',');
        assert_eq!(detect_delimiter("a;b;c\n1,5;2,5;3\n"), b';');
        assert_eq!(detect_delimiter("\"a;b\",c\n\"1;2\",3\n"), b',');
        assert_eq!(detect_delimiter("single column\nvalue\n"), b',');
    }

    #[test]
    fn an_empty_file_is_an_error() {
        assert!(matches!(read_table(b""), Err(CsvError::Empty)));
        assert!(matches!(read_table(b"\n\n"), Err(CsvError::Empty)));
    }
}
