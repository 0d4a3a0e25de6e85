//! How a row becomes an item: a mapping (or the HXL defaults) resolved against a file's headers
//! and tags into a [`Plan`] of column indexes, then applied to each row.

use sha2::{Digest, Sha256};

use super::read::HxlTag;
use crate::dates;
use crate::entry::Draft;
use crate::geo::{self, CountryCode};
use crate::mapping::{Column, ItemMapping, Mapping, MappingError, Part, Template};
use crate::model::{Category, CountryMention, CountryRole, Figure, NormalisedItem};
use crate::text::{clean_whitespace, hex, html_to_text, normalise, truncate_chars, MAX_SUMMARY_CHARS};
use crate::FeedContext;

/// HXL tags whose columns are figures by default, with their usual unit.
const HXL_FIGURES: [(&str, Option<&str>); 7] = [
    ("affected", Some("people")),
    ("population", Some("people")),
    ("inneed", Some("people")),
    ("reached", Some("people")),
    ("targeted", Some("people")),
    ("value", None),
    ("capacity", None),
];

/// HXL tags whose text makes a default title, in this order.
const HXL_TITLE_TAGS: [&str; 6] = ["event", "org", "sector", "adm1", "loc", "country"];

/// Attributes that say a value's unit rather than its disaggregation.
const CURRENCIES: [&str; 8] = ["usd", "eur", "chf", "gbp", "cad", "aud", "jpy", "sek"];

/// A template resolved against the file's columns.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Cell(usize),
    /// The non-empty cells of these columns, joined by the separator (the HXL defaults).
    Joined(Vec<usize>, &'static str),
}

/// A figure column, resolved.
#[derive(Debug, Clone)]
struct FigureColumn {
    index: usize,
    name: String,
    measure: String,
    unit: Option<String>,
    hxl_tag: Option<String>,
    disaggregation: Vec<String>,
}

/// A mapping resolved against one file's headers and tags: column indexes for every field.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    id: Vec<usize>,
    /// Columns hashed into the identity when there is no id column.
    key: Vec<usize>,
    title: Vec<Piece>,
    summary: Vec<Piece>,
    url: Vec<Piece>,
    published: Option<usize>,
    updated: Option<usize>,
    language_column: Option<usize>,
    /// A language the tags declare (`+i_fr` on the title's columns).
    language: Option<String>,
    category: Option<Category>,
    tags: Vec<usize>,
    countries: Vec<(usize, CountryRole)>,
    figures: Vec<FigureColumn>,
    /// The column marking deleted records, and the values that mean deleted.
    deleted: Option<(usize, Vec<String>)>,
    headers: Vec<String>,
}

impl Plan {
    pub(crate) fn resolve(
        file_headers: &[String],
        tags: Option<&[Option<HxlTag>]>,
        mapping: Option<&Mapping>,
    ) -> Result<Plan, MappingError> {
        let default = ItemMapping::default();
        let item = mapping.map_or(&default, |m| &m.item);
        let tagged = |pred: &dyn Fn(&HxlTag) -> bool| -> Vec<usize> {
            tags.unwrap_or_default()
                .iter()
                .enumerate()
                .filter(|(_, t)| t.as_ref().is_some_and(pred))
                .map(|(i, _)| i)
                .collect()
        };
        let headers = (0..file_headers.len().max(tags.map_or(0, <[_]>::len)))
            .map(|i| column_name(file_headers, tags, i))
            .collect::<Vec<_>>();
        let find = |field: &str, column: &Column| -> Result<Vec<usize>, MappingError> {
            let found = column.matches(file_headers, tags);
            if found.is_empty() {
                let mut known: Vec<String> = file_headers.iter().filter(|h| !h.trim().is_empty()).cloned().collect();
                if let Some(tags) = tags {
                    known.extend(tags.iter().flatten().map(|t| Column::Hxl(t.clone()).to_string()));
                }
                return Err(MappingError(format!(
                    "{field}: the file has no column `{column}` (it has: {})",
                    known.join(", ")
                )));
            }
            Ok(found)
        };
        let one = |field: &str, column: &Option<Column>, default: Vec<usize>| -> Result<Option<usize>, MappingError> {
            match column {
                Some(column) => Ok(find(field, column)?.first().copied()),
                None => Ok(default.first().copied()),
            }
        };
        let template = |field: &str, template: &Option<Template>| -> Result<Option<Vec<Piece>>, MappingError> {
            let Some(template) = template else { return Ok(None) };
            let mut pieces = Vec::new();
            for part in &template.parts {
                pieces.push(match part {
                    Part::Text(text) => Piece::Text(text.clone()),
                    Part::Column(column) => Piece::Cell(find(field, column)?[0]),
                });
            }
            Ok(Some(pieces))
        };

        let mut plan = Plan { headers, category: item.category, ..Plan::default() };
        plan.id = match &item.id {
            Some(columns) => columns.iter().map(|c| find("item.id", c)).collect::<Result<Vec<_>, _>>()?.concat(),
            None => tagged(&|t| t.tag == "meta" && t.has("id")),
        };
        plan.title = match template("item.title", &item.title)? {
            Some(pieces) => pieces,
            None => {
                let columns: Vec<usize> =
                    HXL_TITLE_TAGS.iter().flat_map(|tag| tagged(&|t| t.tag == *tag && !t.has("code"))).collect();
                if columns.is_empty() {
                    let why = if tags.is_some() {
                        "no #event, #org, #sector, #adm1, #loc or #country column"
                    } else {
                        "no HXL tags"
                    };
                    return Err(MappingError(format!(
                        "item.title: the file has {why} to title its rows by; give the mapping a title template"
                    )));
                }
                vec![Piece::Joined(columns, " · ")]
            }
        };
        plan.summary = template("item.summary", &item.summary)?
            .unwrap_or_else(|| vec![Piece::Joined(tagged(&|t| t.tag == "description"), "\n")]);
        plan.url = template("item.url", &item.url)?.unwrap_or_else(|| {
            tagged(&|t| t.tag == "meta" && t.has("url")).into_iter().take(1).map(Piece::Cell).collect()
        });
        plan.published = one("item.published", &item.published, tagged(&|t| t.tag == "date"))?;
        plan.updated = one("item.updated", &item.updated, Vec::new())?;
        plan.language_column = one("item.language", &item.language, Vec::new())?;
        plan.language = plan
            .title
            .iter()
            .chain(&plan.summary)
            .flat_map(Piece::cells)
            .filter_map(|i| tags.and_then(|t| t.get(i)).and_then(Option::as_ref))
            .find_map(|t| t.attributes.iter().find_map(|a| a.strip_prefix("i_")).map(str::to_string));
        plan.tags = match &item.tags {
            Some(columns) => columns.iter().map(|c| find("item.tags", c)).collect::<Result<Vec<_>, _>>()?.concat(),
            None => tagged(&|t| t.tag == "sector"),
        };
        plan.countries = match &item.countries {
            Some(columns) => {
                let mut found = Vec::new();
                for c in columns {
                    found.extend(find("item.countries", &c.column)?.into_iter().map(|i| (i, c.role)));
                }
                found
            }
            None => tagged(&|t| t.tag == "country").into_iter().map(|i| (i, hxl_role(tags, i))).collect(),
        };
        plan.figures = match mapping.map(|m| &m.figures).filter(|f| !f.is_empty()) {
            Some(figures) => {
                let mut found = Vec::new();
                for f in figures {
                    for index in find("figures.column", &f.column)? {
                        let mut figure = figure_column(&plan.headers, tags, index);
                        if let Some(measure) = &f.measure {
                            figure.measure = measure.clone();
                        }
                        if f.unit.is_some() {
                            figure.unit = f.unit.clone();
                        }
                        if let Some(disaggregation) = &f.disaggregation {
                            figure.disaggregation = disaggregation.clone();
                        }
                        found.push(figure);
                    }
                }
                found
            }
            None => tagged(&|t| HXL_FIGURES.iter().any(|(tag, _)| t.tag == *tag))
                .into_iter()
                .map(|i| figure_column(&plan.headers, tags, i))
                .collect(),
        };
        if let Some(deleted) = &item.deleted {
            let values = deleted.values.iter().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
            plan.deleted = Some((find("item.deleted", &deleted.column)?[0], values));
        }
        if plan.id.is_empty() {
            let mut key: Vec<usize> =
                plan.title.iter().chain(&plan.summary).chain(&plan.url).flat_map(Piece::cells).collect();
            key.extend(plan.published);
            key.extend(plan.countries.iter().map(|(i, _)| *i));
            // A changed figure updates its row; it never makes a new one.
            key.retain(|i| !plan.figures.iter().any(|f| f.index == *i));
            key.sort_unstable();
            key.dedup();
            plan.key = key;
        }
        Ok(plan)
    }

    /// One row as an item, or why the row cannot be one.
    pub(crate) fn item(
        &self,
        row: &[String],
        context: &FeedContext,
        warnings: &mut Vec<String>,
    ) -> Result<NormalisedItem, String> {
        let cell = |i: usize| row.get(i).map_or("", |c| c.trim());
        let render = |pieces: &[Piece]| -> String {
            let mut text = String::new();
            for piece in pieces {
                match piece {
                    Piece::Text(t) => text.push_str(t),
                    Piece::Cell(i) => text.push_str(cell(*i)),
                    Piece::Joined(columns, separator) => {
                        let cells: Vec<&str> = columns.iter().map(|&i| cell(i)).filter(|c| !c.is_empty()).collect();
                        text.push_str(&cells.join(separator));
                    }
                }
            }
            // Cells are plain text, unless a publisher put markup in them.
            if text.contains(['<', '&']) {
                html_to_text(&text)
            } else {
                clean_whitespace(&text)
            }
        };
        let source_key = if self.id.is_empty() {
            let values: Vec<&str> = self.key.iter().map(|&i| cell(i)).collect();
            if values.iter().all(|v| v.is_empty()) {
                return Err("it has no values to identify it by".into());
            }
            format!("row:{}", hex(&Sha256::digest(values.join("\u{1f}").as_bytes())[..16]))
        } else {
            let values: Vec<&str> = self.id.iter().map(|&i| cell(i)).collect();
            if values.iter().all(|v| v.is_empty()) {
                return Err(format!("its id ({}) is empty", self.names(&self.id)));
            }
            format!("id:{}", values.join("|"))
        };
        if let Some((index, values)) = &self.deleted {
            if values.iter().any(|v| v.eq_ignore_ascii_case(cell(*index))) {
                return Ok(NormalisedItem::deleted(source_key));
            }
        }
        let mut figures = Vec::new();
        for f in &self.figures {
            let raw = cell(f.index);
            if is_no_value(raw) {
                continue;
            }
            let value = parse_number(raw).ok_or_else(|| format!("`{raw}` in column {} is not a number", f.name))?;
            figures.push(Figure {
                measure: f.measure.clone(),
                value,
                unit: f.unit.clone(),
                hxl_tag: f.hxl_tag.clone(),
                disaggregation: f.disaggregation.clone(),
            });
        }
        let date = |index: Option<usize>, warnings: &mut Vec<String>| {
            let raw = cell(index?);
            let parsed = dates::parse_lenient(raw);
            if parsed.is_none() && !raw.is_empty() {
                warnings.push(format!("unreadable date `{raw}`: the row is kept without it"));
            }
            parsed
        };
        let published_at = date(self.published, warnings);
        let updated_at = date(self.updated, warnings).or(published_at);
        let mut countries = Vec::new();
        for &(index, role) in &self.countries {
            let raw = cell(index);
            if is_no_value(raw) {
                continue;
            }
            // A cell may name several countries, separated by commas or semicolons.
            let mut resolve = |text: &str| {
                if let Ok(code) = CountryCode::parse(text) {
                    return Some(code);
                }
                let found = geo::resolve_exact(text)?;
                if found.ambiguous {
                    warnings.push(format!(
                        "`{text}` in column {} may not mean {} (ambiguous name); check the item's countries",
                        self.headers[index], found.code
                    ));
                }
                Some(found.code)
            };
            let mut codes = resolve(raw).map(|c| vec![c]);
            if codes.is_none() {
                let parts: Vec<&str> = raw.split([',', ';']).map(str::trim).filter(|p| !p.is_empty()).collect();
                if parts.len() > 1 {
                    let mut found = Vec::new();
                    let mut unknown = Vec::new();
                    for part in parts {
                        match resolve(part) {
                            Some(code) => found.push(code),
                            None => unknown.push(part),
                        }
                    }
                    if !found.is_empty() {
                        for part in unknown.iter().filter(|p| !p.eq_ignore_ascii_case("unknown")) {
                            warnings
                                .push(format!("`{part}` in column {} is not a country we know", self.headers[index]));
                        }
                        codes = Some(found);
                    }
                }
            }
            match codes {
                Some(codes) => countries.extend(codes.into_iter().map(|code| CountryMention { code, role })),
                None if raw.eq_ignore_ascii_case("unknown") => {}
                None => warnings.push(format!("`{raw}` in column {} is not a country we know", self.headers[index])),
            }
        }
        let language_cell = self.language_column.map(cell).filter(|l| !l.is_empty());
        let url = Some(render(&self.url)).filter(|u| !u.is_empty());
        let summary = render(&self.summary);
        if summary.len() > MAX_SUMMARY_CHARS && summary.chars().count() > MAX_SUMMARY_CHARS {
            warnings.push(format!(
                "the summary of `{source_key}` ({} bytes) was cut to {MAX_SUMMARY_CHARS} characters",
                summary.len()
            ));
        }
        let draft = Draft {
            source_key,
            title: render(&self.title),
            summary: truncate_chars(&summary, MAX_SUMMARY_CHARS),
            url,
            published_at,
            updated_at,
            declared_language: language_cell.or(self.language.as_deref()),
            tags: self.tags.iter().map(|&i| cell(i).to_string()).filter(|t| !t.is_empty()).collect(),
            countries,
            category: self.category,
            figures,
        };
        if draft.title.is_empty() && draft.summary.is_empty() {
            return Err("its title and summary are empty".into());
        }
        Ok(draft.finish(context, warnings))
    }

    fn names(&self, columns: &[usize]) -> String {
        columns.iter().map(|&i| self.headers[i].as_str()).collect::<Vec<_>>().join(", ")
    }
}

impl Piece {
    /// The columns a piece reads.
    fn cells(&self) -> Vec<usize> {
        match self {
            Piece::Cell(i) => vec![*i],
            Piece::Joined(columns, _) => columns.clone(),
            Piece::Text(_) => Vec::new(),
        }
    }
}

/// A column's name for messages: its header, else its tag, else its position.
fn column_name(headers: &[String], tags: Option<&[Option<HxlTag>]>, index: usize) -> String {
    let header = headers.get(index).map(|h| h.trim()).filter(|h| !h.is_empty());
    let tag = tags.and_then(|t| t.get(index)).and_then(Option::as_ref);
    match (header, tag) {
        (Some(h), _) => h.to_string(),
        (None, Some(t)) => Column::Hxl(t.clone()).to_string(),
        (None, None) => format!("{}", index + 1),
    }
}

/// The role HXL attributes give a country column.
fn hxl_role(tags: Option<&[Option<HxlTag>]>, index: usize) -> CountryRole {
    let tag = tags.and_then(|t| t.get(index)).and_then(Option::as_ref);
    match tag {
        Some(t) if t.has("origin") => CountryRole::Origin,
        Some(t) if t.has("dest") => CountryRole::Destination,
        Some(t) if t.has("asylum") => CountryRole::Asylum,
        Some(t) if t.has("transit") => CountryRole::Transit,
        _ => CountryRole::Mentioned,
    }
}

/// A figure column's defaults: the HXL tag as measure, its attributes as disaggregation, a
/// currency attribute as unit.
fn figure_column(headers: &[String], tags: Option<&[Option<HxlTag>]>, index: usize) -> FigureColumn {
    let name = headers.get(index).cloned().unwrap_or_default();
    match tags.and_then(|t| t.get(index)).and_then(Option::as_ref) {
        Some(tag) => {
            let currency = tag.attributes.iter().find(|a| CURRENCIES.contains(&a.as_str()));
            let unit = currency.map(|c| c.to_ascii_uppercase()).or_else(|| {
                HXL_FIGURES.iter().find(|(t, _)| *t == tag.tag).and_then(|(_, unit)| unit.map(str::to_string))
            });
            FigureColumn {
                index,
                measure: tag.tag.clone(),
                unit,
                hxl_tag: Some(Column::Hxl(tag.clone()).to_string()),
                disaggregation: tag
                    .attributes
                    .iter()
                    .filter(|a| !CURRENCIES.contains(&a.as_str()) && !a.starts_with("i_"))
                    .cloned()
                    .collect(),
                name,
            }
        }
        None => FigureColumn {
            index,
            // A JSON field's measure is its pointer's last key (`/fields/amount_requested`).
            measure: match name.strip_prefix('/') {
                Some(pointer) => normalise(pointer.rsplit('/').next().unwrap_or_default()),
                None => normalise(&name),
            }
            .replace(' ', "_"),
            unit: None,
            hxl_tag: None,
            disaggregation: Vec::new(),
            name,
        },
    }
}

/// Whether a figure's cell says there is no value: empty, or a dash or `n/a` as tables write it.
fn is_no_value(raw: &str) -> bool {
    matches!(raw, "" | "-" | "–" | "—" | ".." | "…")
        || raw.eq_ignore_ascii_case("n/a")
        || raw.eq_ignore_ascii_case("null")
}

/// A number as publishers write it: `1200`, `1,200`, `1 200`, `12.5`, `12,5`, `1.234,5`,
/// `1,234.5`. With both separators the last is the decimal one; a lone comma separates thousands
/// only between groups of three digits after a first group of one to three (not `0`).
fn parse_number(raw: &str) -> Option<f64> {
    let compact: String = raw.chars().filter(|c| !c.is_whitespace() && *c != '_').collect();
    let text = match (compact.rfind('.'), compact.rfind(',')) {
        (Some(dot), Some(comma)) if comma > dot => compact.replace('.', "").replacen(',', ".", 1),
        (Some(_), Some(_)) => compact.replace(',', ""),
        (None, Some(_)) => {
            let mut groups = compact.trim_start_matches(['-', '+']).split(',');
            let first = groups.next().unwrap_or_default();
            if (1..=3).contains(&first.len()) && first != "0" && groups.all(|g| g.len() == 3) {
                compact.replace(',', "")
            } else {
                compact.replacen(',', ".", 1)
            }
        }
        _ => compact,
    };
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_as_publishers_write_them() {
        for (raw, value) in [
            ("1200", 1200.0),
            ("1,200", 1200.0),
            ("1 200", 1200.0),
            ("12.5", 12.5),
            ("12,5", 12.5),
            ("1,234.5", 1234.5),
            ("1.234,5", 1234.5),
            ("0,125", 0.125),
            ("-1,500", -1500.0),
            ("1,234,567", 1234567.0),
        ] {
            assert_eq!(parse_number(raw), Some(value), "{raw}");
        }
        for raw in ["n/a", "", "1.2.3", "inf"] {
            assert_eq!(parse_number(raw), None, "{raw}");
        }
    }
}
