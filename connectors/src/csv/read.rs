//! Reading CSV files as publishers write them, a row at a time: the text encoding, the
//! delimiter, and HXL hashtag rows, before any mapping turns rows into items.
//!
//! - Encoding: UTF-8 with or without a byte order mark; anything that is not valid UTF-8 is read
//!   as Windows-1252 (a superset of Latin-1), with a warning.
//! - Delimiter: comma, semicolon or tab, whichever splits the first lines most consistently.
//! - HXL: the hashtag row is found as the HXL tools find it — the first of the first 25 rows where
//!   at least half of the non-empty cells are hashtag specs (`#affected +f +children`) — and the
//!   row above it, if any, holds the human headers.

use std::io::{Read, SeekFrom};

use crate::Source;

/// Rows searched for an HXL hashtag row.
const HXL_SEARCH_ROWS: usize = 25;

/// Lines sampled to choose the delimiter.
const DELIMITER_SAMPLE_LINES: usize = 20;

/// The delimiters tried, most common first (a tie goes to the earlier one).
const DELIMITERS: [u8; 3] = [b',', b';', b'\t'];

/// Bytes read from a file at a time.
const READ_BUFFER: usize = 64 * 1024;

/// Decoded text sampled to choose the delimiter.
const SAMPLE_BYTES: usize = 64 * 1024;

/// The encodings a CSV file is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// UTF-8 (any broken byte replaced by U+FFFD).
    Utf8,
    /// Windows-1252, a superset of Latin-1.
    Windows1252,
}

/// A pass over a whole file that decides its encoding without holding it: UTF-8 when it is valid;
/// still UTF-8, each broken byte replaced by U+FFFD, when it has more well-formed multi-byte
/// characters than broken bytes (one stray byte must not turn every accented letter of the file
/// into two wrong ones); else Windows-1252. Both fallbacks come with a warning.
#[derive(Debug, Default)]
pub struct Census {
    /// Bytes seen.
    offset: u64,
    /// The start of a character cut by the end of the last chunk.
    pending: Vec<u8>,
    broken: u64,
    multibyte: u64,
    /// Offset of the first broken byte.
    first_error: Option<u64>,
}

impl Census {
    /// Takes the next bytes of the file.
    pub fn feed(&mut self, chunk: &[u8]) {
        let base = self.offset - self.pending.len() as u64;
        self.offset += chunk.len() as u64;
        if self.pending.is_empty() {
            self.scan(chunk, base, false);
        } else {
            let mut data = std::mem::take(&mut self.pending);
            data.extend_from_slice(chunk);
            self.scan(&data, base, false);
        }
    }

    fn scan(&mut self, data: &[u8], base: u64, last: bool) {
        let lead_bytes = |bytes: &[u8]| bytes.iter().filter(|&&b| b >= 0xC0).count() as u64;
        let mut at = 0;
        while at < data.len() {
            match std::str::from_utf8(&data[at..]) {
                Ok(_) => {
                    self.multibyte += lead_bytes(&data[at..]);
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    self.multibyte += lead_bytes(&data[at..at + valid]);
                    let error_at = at + valid;
                    match e.error_len() {
                        Some(len) => {
                            self.broken += 1;
                            self.first_error.get_or_insert(base + error_at as u64);
                            at = error_at + len;
                        }
                        // A character cut at the end of the file is one broken character.
                        None if last => {
                            self.broken += 1;
                            self.first_error.get_or_insert(base + error_at as u64);
                            return;
                        }
                        None => {
                            self.pending = data[error_at..].to_vec();
                            return;
                        }
                    }
                }
            }
        }
    }

    /// The encoding, and a warning when it is not plain UTF-8.
    pub fn finish(mut self) -> (TextEncoding, Option<String>) {
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            self.scan(&pending, self.offset - pending.len() as u64, true);
        }
        let Some(first) = self.first_error else { return (TextEncoding::Utf8, None) };
        let (at, broken) = (first + 1, self.broken);
        if self.multibyte > self.broken {
            let warning = format!(
                "the file has {broken} bytes that are not UTF-8 (the first is byte {at}); each was replaced by �"
            );
            return (TextEncoding::Utf8, Some(warning));
        }
        let warning = format!("the file is not UTF-8 (byte {at} is invalid); it was read as Latin-1/Windows-1252");
        (TextEncoding::Windows1252, Some(warning))
    }
}

/// A reader giving the UTF-8 text of a reader in another encoding (or in UTF-8 with broken bytes),
/// a buffer at a time.
struct Decoded<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    done: bool,
    /// Decoded bytes a reader with less room than one character has yet to take.
    spill: Vec<u8>,
}

impl<R: Read> Decoded<R> {
    fn new(inner: R, encoding: TextEncoding) -> Decoded<R> {
        let encoding = match encoding {
            TextEncoding::Utf8 => encoding_rs::UTF_8,
            TextEncoding::Windows1252 => encoding_rs::WINDOWS_1252,
        };
        Decoded {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            input: vec![0; READ_BUFFER],
            start: 0,
            end: 0,
            eof: false,
            done: false,
            spill: Vec::new(),
        }
    }
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        // The decoder needs room for any one character to make progress.
        if out.len() < 4 || !self.spill.is_empty() {
            if self.spill.is_empty() {
                let mut four = [0u8; 4];
                let n = self.read(&mut four)?;
                self.spill.extend_from_slice(&four[..n]);
            }
            let take = self.spill.len().min(out.len());
            out[..take].copy_from_slice(&self.spill[..take]);
            self.spill.drain(..take);
            return Ok(take);
        }
        loop {
            if self.done {
                return Ok(0);
            }
            if self.start == self.end && !self.eof {
                self.end = self.inner.read(&mut self.input)?;
                self.start = 0;
                self.eof = self.end == 0;
            }
            let (result, read, written, _) =
                self.decoder.decode_to_utf8(&self.input[self.start..self.end], out, self.eof);
            self.start += read;
            if self.eof && result == encoding_rs::CoderResult::InputEmpty {
                self.done = true;
            }
            if written > 0 {
                return Ok(written);
            }
        }
    }
}

/// The delimiter that splits the first lines most consistently: for each candidate, the number of
/// cells most lines agree on (a junk line on top does not decide), then how many lines agree,
/// then how many cells. Quoted fields are skipped, so a comma inside quotes does not count.
pub fn detect_delimiter(text: &str) -> u8 {
    let lines = sample_lines(text);
    let score = |delimiter: u8| {
        let mut counts: Vec<usize> = lines.iter().map(|line| count_outside_quotes(line, delimiter)).collect();
        counts.retain(|&c| c > 0);
        counts.sort_unstable();
        // The most common non-zero count, and how many lines have it.
        let mut best = (0, 0);
        for run in counts.chunk_by(|a, b| a == b) {
            best = best.max((run.len(), run[0]));
        }
        best
    };
    DELIMITERS.iter().copied().max_by_key(|&d| (score(d), std::cmp::Reverse(rank(d)))).unwrap_or(b',')
}

fn rank(delimiter: u8) -> usize {
    DELIMITERS.iter().position(|&d| d == delimiter).unwrap_or(DELIMITERS.len())
}

/// The first non-blank lines of `text`, whole records as far as quotes allow telling.
fn sample_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => {
                let line = text[start..i].trim_end_matches('\r');
                if !line.trim().is_empty() {
                    lines.push(line);
                }
                start = i + 1;
                if lines.len() == DELIMITER_SAMPLE_LINES {
                    return lines;
                }
            }
            _ => {}
        }
    }
    if !text[start..].trim().is_empty() {
        lines.push(&text[start..]);
    }
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
pub fn find_hxl_row<'a>(records: impl IntoIterator<Item = &'a [String]>) -> Option<HxlRow> {
    records.into_iter().take(HXL_SEARCH_ROWS).enumerate().find_map(|(index, record)| {
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

impl From<std::io::Error> for CsvError {
    fn from(e: std::io::Error) -> CsvError {
        CsvError::Unreadable(format!("could not read the file: {e}"))
    }
}

/// A CSV file being read a row at a time: its header and HXL rows are read when it is opened, the
/// data rows as they are asked for, so a file of any length is never held in memory.
pub struct TableReader<R: Read> {
    /// The human header of each column: the row above the hashtag row, else the first row.
    pub headers: Vec<String>,
    /// Each column's HXL tag, when the file has a hashtag row.
    pub tags: Option<Vec<Option<HxlTag>>>,
    /// What a publisher should know about the file so far (encoding, notes above the headers).
    pub warnings: Vec<String>,
    /// Data rows read while looking for the hashtag row.
    buffered: std::collections::VecDeque<(u64, Vec<String>)>,
    records: ::csv::StringRecordsIntoIter<R>,
    width: usize,
    /// Rows of another width than the header row, and the first one's line.
    odd: usize,
    first_odd: Option<u64>,
    /// Data rows handed out.
    pub rows: usize,
}

impl<R: Read> TableReader<R> {
    fn open(reader: ::csv::Reader<R>, encoding_warning: Option<String>) -> Result<TableReader<R>, CsvError> {
        let mut records = reader.into_records();
        let mut head: Vec<(u64, Vec<String>)> = Vec::new();
        while head.len() < HXL_SEARCH_ROWS {
            match next_record(&mut records)? {
                Some(record) => head.push(record),
                None => break,
            }
        }
        let (headers, tags, first_data) = match find_hxl_row(head.iter().map(|(_, r)| r.as_slice())) {
            Some(hxl) => {
                let headers = hxl.index.checked_sub(1).map(|above| head[above].1.clone()).unwrap_or_default();
                (headers, Some(hxl.tags), hxl.index + 1)
            }
            None => (head.first().ok_or(CsvError::Empty)?.1.clone(), None, 1),
        };
        // Rows above the header row (a title, a download note) are not data; they are counted.
        let above = first_data.saturating_sub(if tags.is_some() { 2 } else { 1 });
        let mut warnings: Vec<String> = encoding_warning.into_iter().collect();
        if above > 0 {
            warnings.push(format!("{above} rows above the header rows were read as notes, not data"));
        }
        let width = headers.len().max(tags.as_ref().map_or(0, Vec::len));
        let buffered = head.split_off(first_data.min(head.len())).into();
        Ok(TableReader { headers, tags, warnings, buffered, records, width, odd: 0, first_odd: None, rows: 0 })
    }

    /// The next data row with its line, or `None` at the end of the file.
    pub fn next_row(&mut self) -> Result<Option<(u64, Vec<String>)>, CsvError> {
        let row = match self.buffered.pop_front() {
            Some(row) => Some(row),
            None => next_record(&mut self.records)?,
        };
        if let Some((line, cells)) = &row {
            self.rows += 1;
            if cells.len() != self.width {
                self.odd += 1;
                self.first_odd.get_or_insert(*line);
            }
        }
        Ok(row)
    }

    /// What the rows read so far showed (rows of the wrong width).
    pub fn row_warnings(&self) -> Option<String> {
        self.first_odd.map(|first| {
            format!(
                "{} rows do not have the {} cells of the header row (first: line {first}); missing cells are read as empty",
                self.odd, self.width
            )
        })
    }
}

/// Longest cell kept, in bytes: a cell of megabytes is cut here, before templates copy it (an
/// item's title and summary are cut further, and told, when the item is made).
const MAX_CELL_BYTES: usize = 1 << 20;

fn cut_cell(cell: &str) -> &str {
    let mut end = cell.len().min(MAX_CELL_BYTES);
    while !cell.is_char_boundary(end) {
        end -= 1;
    }
    &cell[..end]
}

/// The next record that is not blank, with its 1-based line.
fn next_record<R: Read>(records: &mut ::csv::StringRecordsIntoIter<R>) -> Result<Option<(u64, Vec<String>)>, CsvError> {
    for result in records.by_ref() {
        let record = result.map_err(|e| CsvError::Unreadable(e.to_string()))?;
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        let line = record.position().map_or(0, |p| p.line());
        return Ok(Some((line, record.iter().map(|cell| cut_cell(cell).to_string()).collect())));
    }
    Ok(None)
}

/// Opens a CSV file for reading row by row: one pass decides its encoding, a second reads it,
/// decoding as it goes; the delimiter is chosen from its first lines.
pub fn open_table(source: &mut dyn Source) -> Result<TableReader<impl Read + '_>, CsvError> {
    source.seek(SeekFrom::Start(0))?;
    let mut bom = [0u8; 3];
    let n = source.read(&mut bom)?;
    let start = if n == 3 && bom == *b"\xEF\xBB\xBF" { 3 } else { 0 };
    // The byte order mark is not counted as a character, but offsets count from the file's start.
    source.seek(SeekFrom::Start(start))?;
    let mut census = Census { offset: start, ..Census::default() };
    let mut buffer = vec![0u8; READ_BUFFER];
    loop {
        let n = source.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        census.feed(&buffer[..n]);
    }
    drop(buffer);
    let (encoding, warning) = census.finish();
    source.seek(SeekFrom::Start(start))?;
    let mut decoded = Decoded::new(source, encoding);
    let mut sample = Vec::new();
    (&mut decoded).take(SAMPLE_BYTES as u64).read_to_end(&mut sample)?;
    let delimiter = detect_delimiter(&String::from_utf8_lossy(&sample));
    let reader = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::Cursor::new(sample).chain(decoded));
    TableReader::open(reader, warning)
}

/// Reads a whole CSV file: decoding, delimiter, header and HXL rows.
pub fn read_table(bytes: &[u8]) -> Result<Table, CsvError> {
    let mut source = std::io::Cursor::new(bytes);
    let mut reader = open_table(&mut source)?;
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row()? {
        rows.push(row);
    }
    let mut warnings = std::mem::take(&mut reader.warnings);
    warnings.extend(reader.row_warnings());
    Ok(Table { headers: std::mem::take(&mut reader.headers), tags: reader.tags.take(), rows, warnings })
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
        assert_eq!(table.warnings, ["1 rows above the header rows were read as notes, not data"]);
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
        let mostly_utf8 = "pays,personnes\nCôte d'Ivoire,12\nRéunion,3\nTürkiye,\u{1}\n".replace('\u{1}', "4");
        let mut bytes = mostly_utf8.into_bytes();
        bytes.insert(bytes.len() - 2, 0xff);
        let table = read_table(&bytes).unwrap();
        assert_eq!(table.rows[0].1[0], "Côte d'Ivoire", "one stray byte does not make the file Latin-1");
        assert!(table.warnings[0].contains("1 bytes that are not UTF-8"), "{:?}", table.warnings);
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
        assert!(table.warnings.is_empty(), "{:?}", table.warnings);
        assert_eq!(table.rows[0].1, ["Route, closed", "first line\nsecond line", "3"]);
        let short = read_table(b"a,b,c\n1,2,3\n4,5\n6,7\n").unwrap();
        assert_eq!(
            short.warnings,
            ["2 rows do not have the 3 cells of the header row (first: line 3); missing cells are read as empty"]
        );
        assert_eq!(table.rows[1], (4, vec!["Next".to_string(), "plain".into(), "4".into()]));
    }

    #[test]
    fn the_delimiter_is_the_one_that_splits_lines_consistently() {
        assert_eq!(detect_delimiter("a,b,c\n1,2,3\n"), b',');
        assert_eq!(detect_delimiter("a;b;c\n1,5;2,5;3\n"), b';');
        assert_eq!(detect_delimiter("\"a;b\",c\n\"1;2\",3\n"), b',');
        assert_eq!(detect_delimiter("single column\nvalue\n"), b',');
        // A junk line on top, or a blank one, does not decide.
        let junk = "Downloaded from the portal, 2026\n#country+name;#date;#affected\nItalie;2026-10-01;35\nGrèce;2026-10-02;12\n";
        assert_eq!(detect_delimiter(junk), b';');
        let blank_first = format!("\n{}", "a\tb\tc\n".repeat(25));
        assert_eq!(detect_delimiter(&blank_first), b'\t');
        let table = read_table(junk.as_bytes()).unwrap();
        assert_eq!(tags(&table), ["#country+name", "#date", "#affected"]);
    }

    #[test]
    fn an_empty_file_is_an_error() {
        assert!(matches!(read_table(b""), Err(CsvError::Empty)));
        assert!(matches!(read_table(b"\n\n"), Err(CsvError::Empty)));
    }

    #[test]
    fn the_encoding_census_is_the_same_whatever_the_chunks() {
        let text = "pays;personnes\nCôte d'Ivoire;12\nSénégal;3\n".as_bytes().to_vec();
        let mut stray = text.clone();
        stray.insert(20, 0xFF);
        let latin1: Vec<u8> = b"pays;personnes\nC\xf4te d'Ivoire;12\nS\xe9n\xe9gal;3\n".to_vec();
        let mut cut = text.clone();
        cut.push(0xC3); // the first byte of a two-byte character, and then the end of the file
        for bytes in [&text, &stray, &latin1, &cut] {
            let census = |size: usize| {
                let mut census = Census::default();
                bytes.chunks(size).for_each(|chunk| census.feed(chunk));
                census.finish()
            };
            let whole = census(bytes.len());
            for size in [1, 2, 3, 7] {
                assert_eq!(census(size), whole, "{bytes:?} in chunks of {size}");
            }
        }
        assert_eq!(census_of(&text), (TextEncoding::Utf8, None));
        assert_eq!(census_of(&stray).0, TextEncoding::Utf8);
        assert!(census_of(&stray).1.unwrap().contains("byte 21"));
        assert_eq!(census_of(&latin1).0, TextEncoding::Windows1252);
        assert!(census_of(&cut).1.unwrap().contains("1 bytes that are not UTF-8"));
    }

    fn census_of(bytes: &[u8]) -> (TextEncoding, Option<String>) {
        let mut census = Census::default();
        census.feed(bytes);
        census.finish()
    }

    #[test]
    fn decoding_a_byte_at_a_time_gives_the_same_text() {
        let latin1 = b"C\xf4te d'Ivoire;S\xe9n\xe9gal\n";
        let mut decoded = Decoded::new(&latin1[..], TextEncoding::Windows1252);
        let mut text = Vec::new();
        let mut byte = [0u8; 1];
        while decoded.read(&mut byte).unwrap() == 1 {
            text.push(byte[0]);
        }
        assert_eq!(String::from_utf8(text).unwrap(), "Côte d'Ivoire;Sénégal\n");
    }

    #[test]
    fn a_file_longer_than_the_delimiter_sample_is_read_row_by_row_across_it() {
        // Quoted cells with line breaks and accents fall across the 64 KiB sample's end.
        let mut csv = String::from("id;note;count\n");
        for i in 0..3000 {
            csv.push_str(&format!("r{i};\"Réfugiés, ligne un\nligne deux ({i})\";{i}\n"));
        }
        assert!(csv.len() > 2 * SAMPLE_BYTES);
        let table = read_table(csv.as_bytes()).unwrap();
        assert_eq!(table.rows.len(), 3000);
        assert!(table.warnings.is_empty(), "{:?}", table.warnings);
        for (i, (line, row)) in table.rows.iter().enumerate() {
            assert_eq!(row, &[format!("r{i}"), format!("Réfugiés, ligne un\nligne deux ({i})"), i.to_string()]);
            assert_eq!(*line, 2 + 2 * i as u64);
        }
    }
}
