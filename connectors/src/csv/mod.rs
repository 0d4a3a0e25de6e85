//! CSV files: read a row at a time ([`read`]: encoding, delimiter, HXL hashtag rows), each row
//! made an item by a mapping or the HXL defaults (`plan`).

mod plan;
pub mod read;

pub(crate) use plan::Plan;
pub use read::{
    detect_delimiter, find_hxl_row, open_table, read_table, Census, CsvError, HxlRow, HxlTag, Table, TableReader,
    TextEncoding,
};

use crate::mapping::Mapping;
use crate::model::NormalisedItem;
use crate::{Chunks, ConnectorError, FeedContext, Parsed, Source};

/// Rows of a CSV file as items, with `mapping`, or with the HXL defaults when the file has a
/// hashtag row and the mapping leaves a field out. Items go to `sink` in chunks that start at a
/// tenth of `chunk_size` and double. A bad row (a figure that is not a number, no identity) is
/// skipped with a warning; a file with no usable row, or a mapping naming a column the file does
/// not have, is an error.
pub fn parse_chunks(
    bytes: &[u8],
    mapping: Option<&Mapping>,
    context: &FeedContext,
    chunk_size: usize,
    sink: &mut dyn FnMut(Vec<NormalisedItem>),
) -> Result<Parsed, ConnectorError> {
    parse_source(&mut std::io::Cursor::new(bytes), mapping, context, chunk_size, sink)
}

/// [`parse_chunks`] reading from a file (or anything readable twice), a row at a time: memory
/// stays bounded whatever the file's length.
pub fn parse_source(
    source: &mut dyn Source,
    mapping: Option<&Mapping>,
    context: &FeedContext,
    chunk_size: usize,
    sink: &mut dyn FnMut(Vec<NormalisedItem>),
) -> Result<Parsed, ConnectorError> {
    let invalid = |e: CsvError| ConnectorError::Invalid(e.to_string());
    let mut table = open_table(source).map_err(invalid)?;
    let plan = Plan::resolve(&table.headers, table.tags.as_deref(), mapping)
        .map_err(|e| ConnectorError::Invalid(e.to_string()))?;
    let mut parsed = Parsed { warnings: std::mem::take(&mut table.warnings), ..Parsed::default() };
    let mut out = Chunks::new(chunk_size, sink);
    let mut skipped = 0;
    let mut row_warnings = Vec::new();
    let mut dropped_warnings = 0;
    while let Some((line, row)) = table.next_row().map_err(invalid)? {
        match plan.item(&row, context, &mut row_warnings) {
            Ok(item) => out.push(item),
            Err(reason) => {
                skipped += 1;
                row_warnings.push(format!("line {line} was skipped: {reason}"));
            }
        }
        // Only the first warnings are kept; the rest are counted.
        if row_warnings.len() > 4 * crate::MAX_WARNINGS {
            dropped_warnings += row_warnings.len() - crate::MAX_WARNINGS;
            row_warnings.truncate(crate::MAX_WARNINGS);
        }
    }
    out.flush();
    if out.kept == 0 {
        let first = row_warnings.first().map(|w| format!(" (first: {w})")).unwrap_or_default();
        return Err(ConnectorError::Invalid(format!("the file has no usable rows{first}")));
    }
    parsed.warnings.extend(table.row_warnings());
    if skipped > 0 {
        parsed.warnings.push(format!("{skipped} of {} rows were skipped", table.rows));
    }
    parsed.skipped = skipped;
    if out.repeated > 0 {
        parsed
            .warnings
            .push(format!("{} rows repeat the identity of an earlier row; the first of each was kept", out.repeated));
    }
    parsed.records = table.rows;
    parsed.keys = out.finish();
    parsed.warnings.extend(row_warnings);
    parsed.warnings_dropped = crate::cap_warnings(&mut parsed.warnings, dropped_warnings);
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Category, CountryRole};
    const DTM: &str = "Site id,Country,Origin,Date,Event,IDPs (women),IDPs (children),Funding\n\
        #meta+id,#country+code,#country+name+origin,#date,#event+name+i_en,#affected+idps+f,#affected+idps+children,#value+funding+usd\n\
        s-1,SO,Ethiopia,2026-10-01,Flooding displaces families at Baidoa,\"1,200\",800,25000\n\
        s-2,SO,Kenya,2026-10-02,New arrivals at the border camp,300,,\n";

    fn rows(csv: &str, mapping: Option<&Mapping>) -> Result<Parsed, ConnectorError> {
        let mut items = Vec::new();
        let mut parsed = parse_chunks(csv.as_bytes(), mapping, &FeedContext::default(), 100, &mut |c| items.extend(c))?;
        parsed.items = items;
        Ok(parsed)
    }

    #[test]
    fn hxl_rows_become_items_with_the_default_mapping() {
        let parsed = rows(DTM, None).unwrap();
        assert_eq!(parsed.items.len(), 2);
        let first = &parsed.items[0];
        assert_eq!(first.source_key, "id:s-1");
        assert_eq!(first.title, "Flooding displaces families at Baidoa · Ethiopia");
        assert_eq!(first.language.as_deref(), Some("en"));
        assert_eq!(first.published_at.map(|d| d.to_rfc3339()).as_deref(), Some("2026-10-01T00:00:00+00:00"));
        let countries: Vec<(&str, CountryRole)> = first.countries.iter().map(|c| (c.code.as_str(), c.role)).collect();
        assert_eq!(countries, [("SO", CountryRole::Mentioned), ("ET", CountryRole::Origin)]);
        let figures: Vec<(&str, f64, Option<&str>, Vec<&str>)> = first
            .figures
            .iter()
            .map(|f| {
                (f.measure.as_str(), f.value, f.unit.as_deref(), f.disaggregation.iter().map(String::as_str).collect())
            })
            .collect();
        assert_eq!(
            figures,
            [
                ("affected", 1200.0, Some("people"), vec!["idps", "f"]),
                ("affected", 800.0, Some("people"), vec!["idps", "children"]),
                ("value", 25000.0, Some("USD"), vec!["funding"]),
            ]
        );
        assert_eq!(first.figures[0].hxl_tag.as_deref(), Some("#affected+idps+f"));
        assert_eq!(parsed.items[1].figures.len(), 1, "empty cells are no figures");
    }

    #[test]
    fn a_changed_figure_keeps_the_row_identity_and_changes_its_content() {
        let before = rows(DTM, None).unwrap();
        let after = rows(&DTM.replace("\"1,200\"", "1250"), None).unwrap();
        assert_eq!(before.items[0].source_key, after.items[0].source_key);
        assert_ne!(before.items[0].content_hash(), after.items[0].content_hash());
        assert_eq!(before.items[1].content_hash(), after.items[1].content_hash());
        // Without an id column the identity hashes the mapped columns other than figures.
        let no_id = DTM.replace("#meta+id,", "#meta+note,");
        let (a, b) = (rows(&no_id, None).unwrap(), rows(&no_id.replace("\"1,200\"", "1250"), None).unwrap());
        assert!(a.items[0].source_key.starts_with("row:"));
        assert_eq!(a.items[0].source_key, b.items[0].source_key);
        assert_ne!(a.items[0].source_key, a.items[1].source_key);
    }

    #[test]
    fn a_figure_in_the_title_does_not_change_the_row_identity() {
        let mapping = Mapping::parse(
            "format = \"csv\"\n[item]\ntitle = \"{Arrivals} arrivals in {Country}\"\n[[figures]]\ncolumn = \"Arrivals\"",
        )
        .unwrap();
        let before = rows("Country,Arrivals\nItaly,35\n", Some(&mapping)).unwrap();
        let after = rows("Country,Arrivals\nItaly,36\n", Some(&mapping)).unwrap();
        assert_eq!(before.items[0].source_key, after.items[0].source_key);
        assert_eq!(after.items[0].title, "36 arrivals in Italy");
    }

    #[test]
    fn default_titles_skip_empty_cells_and_markup_in_cells_is_text() {
        let csv =
            "#event,#org,#country+name,#description\nFloods,,Somalia,<p>Rivers <b>rose</b> &amp; camps moved</p>\n";
        let item = &rows(csv, None).unwrap().items[0];
        assert_eq!(item.title, "Floods · Somalia");
        assert_eq!(item.summary, "Rivers rose & camps moved");
    }

    #[test]
    fn a_mapping_names_columns_by_header_and_sets_the_category() {
        let csv = "Ref;Pays;Titre;Arrivées;Jour\nA7;Italie;Arrivées à Lampedusa;35;02/10/2026\n";
        let mapping = Mapping::parse(
            r#"format = "csv"
               [item]
               id = ["Ref"]
               title = "{Titre} ({Pays})"
               published = "Jour"
               category = "route_change"
               countries = [{ column = "Pays", role = "DESTINATION" }]
               [[figures]]
               column = "Arrivées"
               measure = "arrivals"
               unit = "people""#,
        )
        .unwrap();
        let parsed = rows(csv, Some(&mapping)).unwrap();
        let item = &parsed.items[0];
        assert_eq!((item.source_key.as_str(), item.title.as_str()), ("id:A7", "Arrivées à Lampedusa (Italie)"));
        assert_eq!(item.classification.category, Category::RouteChange);
        assert_eq!(item.classification.source, crate::model::ClassificationSource::Mapping);
        assert_eq!((item.countries[0].code.as_str(), item.countries[0].role), ("IT", CountryRole::Destination));
        assert_eq!((item.figures[0].measure.as_str(), item.figures[0].value), ("arrivals", 35.0));
        assert!(item.published_at.is_some());
    }

    #[test]
    fn a_bad_row_is_skipped_with_a_warning_and_no_usable_row_is_an_error() {
        let csv = DTM.replace("300,,", "about 300,,");
        let parsed = rows(&csv, None).unwrap();
        assert_eq!(parsed.items.len(), 1);
        assert!(parsed.warnings.contains(&"1 of 2 rows were skipped".to_string()), "{:?}", parsed.warnings);
        assert!(
            parsed
                .warnings
                .iter()
                .any(|w| w.contains("line 4") && w.contains("`about 300`") && w.contains("IDPs (women)")),
            "{:?}",
            parsed.warnings
        );
        let all_bad = csv.replace("\"1,200\"", "unknown");
        let error = rows(&all_bad, None).unwrap_err().to_string();
        assert!(error.contains("no usable rows") && error.contains("`unknown`"), "{error}");
        // A dash or n/a is no value: the row is kept without that figure.
        let dashes = csv.replace("\"1,200\"", "n/a").replace("about 300", "-");
        assert_eq!(rows(&dashes, None).unwrap().items.len(), 2);
    }

    #[test]
    fn a_mapping_that_does_not_fit_the_file_names_the_field() {
        let mapping = Mapping::parse("format = \"csv\"\n[item]\ntitle = \"{Headline}\"").unwrap();
        let error = rows(DTM, Some(&mapping)).unwrap_err().to_string();
        assert!(error.contains("item.title") && error.contains("`Headline`") && error.contains("Site id"), "{error}");
        let plain = "a,b\n1,2\n";
        let error = rows(plain, None).unwrap_err().to_string();
        assert!(error.contains("item.title") && error.contains("title template"), "{error}");
    }

    #[test]
    fn many_bad_rows_keep_the_first_warnings_and_count_the_rest() {
        let mut csv = String::from("Ref,Country,Arrivals\n");
        for i in 0..1000 {
            csv.push_str(&format!("A{i},Italy,{}\n", if i % 2 == 0 { "many".to_string() } else { i.to_string() }));
        }
        let mapping = Mapping::parse(
            "format = \"csv\"\n[item]\nid = [\"Ref\"]\ntitle = \"Arrivals in {Country}\"\n[[figures]]\ncolumn = \"Arrivals\"",
        )
        .unwrap();
        let parsed = rows(&csv, Some(&mapping)).unwrap();
        assert_eq!(parsed.items.len(), 500);
        assert_eq!(parsed.skipped, 500);
        assert_eq!(parsed.warnings.len(), crate::MAX_WARNINGS + 1);
        assert_eq!(parsed.warnings[0], "500 of 1000 rows were skipped");
        // 500 row warnings and the count: 50 kept, so 451 more.
        assert_eq!(parsed.warnings.last().unwrap(), "… and 451 more warnings like these");
        assert_eq!(parsed.keys.len(), 500);
        assert!(parsed.keys.contains("id:A1") && !parsed.keys.contains("id:A0"));
    }
}
