//! Mappings: how the rows of a CSV file and the records of a JSON API become items. A mapping is
//! a small TOML document kept with the feed; [`Mapping::parse`] checks it when the feed is
//! registered, and an invalid one is an error naming the field, column or pointer at fault.
//!
//! ```toml
//! format = "csv"
//! snapshot = false                 # withdraw rows missing from a complete fetch
//!
//! [item]
//! id = ["#meta+id"]                # columns identifying a row (default: every mapped column but figures)
//! title = "{#event+name} in {#country+name}"   # a template over columns
//! summary = "{#description}"
//! url = "{#meta+url}"
//! published = "#date"              # a column
//! category = "NEEDS"               # the category every row gets (source MAPPING)
//! tags = ["#sector"]               # columns classified like an entry's own categories
//! countries = [{ column = "#country+code", role = "ORIGIN" }]
//!
//! [[figures]]
//! column = "#affected"             # every column tagged #affected, each with its attributes
//! measure = "affected"
//! unit = "people"
//! ```
//!
//! A column is named by its header (`"Country"`) or by an HXL tag pattern (`"#affected+f"`: the
//! columns tagged `#affected` with at least the attribute `+f`).
//!
//! A JSON mapping says where the records are and names each field by a JSON Pointer into a record
//! (RFC 6901; a `*` segment takes every element of an array):
//!
//! ```toml
//! format = "json"
//! records = "/data"                # a JSON Pointer to the array of records in each response
//!
//! [pagination]                     # next_link, offset, page or cursor
//! kind = "next_link"
//! next = "/links/next/href"
//!
//! [headers]                        # secrets come from the hub's environment, never the mapping
//! "Ocp-Apim-Subscription-Key" = { env = "DTM_API_KEY" }
//!
//! [item]
//! id = ["/id"]
//! title = "{/fields/title}"
//! countries = [{ column = "/fields/country/*/iso3" }]
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::csv::HxlTag;
use crate::model::{Category, CountryRole};

/// A mapping, parsed and checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// What the source publishes.
    pub format: Format,
    /// Rows missing from a complete, successful fetch are withdrawn.
    #[serde(default)]
    pub snapshot: bool,
    /// JSON: where each response holds its records (the whole response when left out).
    pub records: Option<Pointer>,
    /// JSON: how to ask for the next page of records.
    pub pagination: Option<Pagination>,
    /// Request headers: a plain value, or `{ env = "NAME" }` for a secret the hub reads from its
    /// environment when it fetches.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderValue>,
    /// How a row becomes an item.
    #[serde(default)]
    pub item: ItemMapping,
    /// Numeric columns that become figures.
    #[serde(default)]
    pub figures: Vec<FigureMapping>,
}

/// The formats a mapping can describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A CSV file, HXL-tagged or not.
    Csv,
    /// A JSON API: records at a pointer, fields at pointers.
    Json,
}

impl Format {
    /// The name a mapping gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

/// How a JSON API is paged. Which fields apply depends on `kind`; each has a default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pagination {
    pub kind: PageKind,
    /// `next_link`: where a response holds the next page's URL (absolute or relative).
    pub next: Option<Pointer>,
    /// `offset`: the query parameter holding the offset (default `offset`).
    pub offset_param: Option<String>,
    /// `offset` and `page`: the query parameter holding the page size (default `limit`).
    pub limit_param: Option<String>,
    /// `offset` and `page`: the page size to ask for; a shorter page is the last one.
    pub limit: Option<u64>,
    /// `offset`: where a response holds the total number of records.
    pub total: Option<Pointer>,
    /// `page`: the query parameter holding the page number (default `page`).
    pub page_param: Option<String>,
    /// `page`: the number of the first page (default 1).
    pub first_page: Option<u64>,
    /// `page`: where a response holds the number of pages.
    pub pages: Option<Pointer>,
    /// `cursor`: where a response holds the cursor of the next page.
    pub cursor: Option<Pointer>,
    /// `cursor`: the query parameter that takes it (default `cursor`).
    pub cursor_param: Option<String>,
    /// Pages read per poll at most (default 100); a poll that stops here is incomplete.
    pub max_pages: Option<usize>,
}

/// The ways APIs page their records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageKind {
    /// Each response holds the URL of the next page.
    NextLink,
    /// `offset` and `limit` query parameters.
    Offset,
    /// A page number query parameter.
    Page,
    /// Each response holds a cursor, sent back as a query parameter.
    Cursor,
}

/// Pages read per poll when the mapping does not say.
pub const DEFAULT_MAX_PAGES: usize = 100;

/// Most pages a mapping may allow per poll.
pub const MAX_PAGES: usize = 10_000;

impl Pagination {
    /// Pages read per poll at most.
    pub fn max_pages(&self) -> usize {
        self.max_pages.unwrap_or(DEFAULT_MAX_PAGES)
    }
}

/// A request header's value: written in the mapping, or read from the hub's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// A value that is not secret (`Accept`, an application name).
    Plain(String),
    /// The name of an environment variable holding a secret.
    Env(String),
}

impl<'de> Deserialize<'de> for HeaderValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Plain(String),
            Table(BTreeMap<String, String>),
        }
        let raw = Raw::deserialize(deserializer)
            .map_err(|_| serde::de::Error::custom("a header is a string or `{ env = \"NAME\" }`"))?;
        match raw {
            Raw::Plain(value) => Ok(HeaderValue::Plain(value)),
            Raw::Table(table) => match (table.get("env"), table.len()) {
                (Some(name), 1) => Ok(HeaderValue::Env(name.clone())),
                _ => Err(serde::de::Error::custom("a header is a string or `{ env = \"NAME\" }`")),
            },
        }
    }
}

/// A JSON Pointer (RFC 6901) into a record or a response; a `*` segment stands for every element
/// of an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    text: String,
    segments: Vec<String>,
}

impl Pointer {
    /// Parses a pointer: empty (the whole value) or `/`-separated segments, `~1` for `/` and `~0`
    /// for `~`.
    pub fn parse(text: &str) -> Result<Pointer, String> {
        if text.is_empty() {
            return Ok(Pointer { text: String::new(), segments: Vec::new() });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!("`{text}` is not a JSON Pointer (it must start with `/`, like `/{text}`)"));
        };
        let mut segments = Vec::new();
        for segment in rest.split('/') {
            let mut decoded = String::new();
            let mut chars = segment.chars();
            while let Some(c) = chars.next() {
                match (c, c == '~') {
                    (_, true) => match chars.next() {
                        Some('0') => decoded.push('~'),
                        Some('1') => decoded.push('/'),
                        _ => return Err(format!("`{text}`: `~` must be followed by 0 or 1")),
                    },
                    (c, false) => decoded.push(c),
                }
            }
            segments.push(decoded);
        }
        Ok(Pointer { text: text.to_string(), segments })
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Its decoded segments.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Whether it fans out over arrays (`*`).
    pub fn has_wildcard(&self) -> bool {
        self.segments.iter().any(|s| s == "*")
    }
}

impl<'de> Deserialize<'de> for Pointer {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Pointer::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// How a row's columns become an item's fields. Fields left out take the HXL defaults when the
/// file has a hashtag row.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemMapping {
    /// Columns whose values identify a row.
    pub id: Option<Vec<Column>>,
    pub title: Option<Template>,
    pub summary: Option<Template>,
    pub url: Option<Template>,
    pub published: Option<Column>,
    pub updated: Option<Column>,
    /// A column holding a language tag.
    pub language: Option<Column>,
    /// The category every row gets.
    #[serde(default, deserialize_with = "category")]
    pub category: Option<Category>,
    /// Columns whose values classify the row like an entry's own categories.
    pub tags: Option<Vec<Column>>,
    /// Columns holding country codes or names.
    pub countries: Option<Vec<CountryColumn>>,
    /// A column by which an incremental source marks a record it deleted: such a record
    /// withdraws its item.
    pub deleted: Option<DeletedMapping>,
}

/// How a source marks a deleted record: a column, and the values that mean deleted (compared
/// without case or surrounding space).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletedMapping {
    pub column: Column,
    pub values: Vec<String>,
}

/// A column of countries (ISO codes or names) and the role they play.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountryColumn {
    pub column: Column,
    #[serde(default = "mentioned", deserialize_with = "role")]
    pub role: CountryRole,
}

fn mentioned() -> CountryRole {
    CountryRole::Mentioned
}

/// A numeric column that becomes a figure.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FigureMapping {
    /// The column; an HXL tag pattern may match several, each a figure.
    pub column: Column,
    /// What is counted; by default the column's HXL tag or header.
    pub measure: Option<String>,
    /// Unit or currency, e.g. `people` or `USD`.
    pub unit: Option<String>,
    /// Disaggregation, e.g. `["f"]` for a column counting women; by default the column's HXL
    /// attributes.
    pub disaggregation: Option<Vec<String>>,
}

/// A column named by its header or by an HXL tag pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// The human header, compared without case or surrounding space.
    Header(String),
    /// An HXL tag pattern: the tag, and attributes the column must carry.
    Hxl(HxlTag),
    /// A JSON Pointer into a record (JSON mappings).
    Pointer(Pointer),
}

impl Column {
    /// Parses a column name: a hashtag pattern when it starts with `#`, a JSON Pointer when it
    /// starts with `/`, else a header.
    pub fn parse(text: &str) -> Result<Column, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("a column name is empty".into());
        }
        if text.starts_with('/') {
            Pointer::parse(text).map(Column::Pointer)
        } else if text.starts_with('#') {
            HxlTag::parse(text).map(Column::Hxl).ok_or_else(|| format!("`{text}` is not an HXL tag pattern"))
        } else {
            Ok(Column::Header(text.to_string()))
        }
    }

    /// The indexes of the columns this names, given the file's headers and tags.
    pub fn matches(&self, headers: &[String], tags: Option<&[Option<HxlTag>]>) -> Vec<usize> {
        match self {
            Column::Header(name) => {
                headers.iter().position(|h| h.trim().eq_ignore_ascii_case(name)).into_iter().collect()
            }
            Column::Pointer(pointer) => headers.iter().position(|h| h == pointer.as_str()).into_iter().collect(),
            Column::Hxl(pattern) => tags
                .unwrap_or_default()
                .iter()
                .enumerate()
                .filter(|(_, tag)| {
                    tag.as_ref().is_some_and(|t| t.tag == pattern.tag && pattern.attributes.iter().all(|a| t.has(a)))
                })
                .map(|(i, _)| i)
                .collect(),
        }
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Header(name) => write!(f, "{name}"),
            Column::Pointer(pointer) => write!(f, "{}", pointer.as_str()),
            Column::Hxl(tag) => {
                write!(f, "#{}", tag.tag)?;
                tag.attributes.iter().try_for_each(|a| write!(f, "+{a}"))
            }
        }
    }
}

impl<'de> Deserialize<'de> for Column {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Column::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// A template: text with `{column}` placeholders (`{{` and `}}` for braces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<Part>,
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Column(Column),
}

impl Template {
    /// Parses a template, checking its braces and column names.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(format!("`{{{name}` is never closed with `}}`"));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Column(Column::parse(&name)?));
                }
                '}' => return Err("a `}` closes nothing (write `}}` for a brace)".into()),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// The columns the template reads.
    pub fn columns(&self) -> impl Iterator<Item = &Column> {
        self.parts.iter().filter_map(|p| match p {
            Part::Column(c) => Some(c),
            Part::Text(_) => None,
        })
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Template::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

fn category<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Category>, D::Error> {
    let name = String::deserialize(deserializer)?;
    name.trim().to_ascii_uppercase().parse::<Category>().ok().map(Some).ok_or_else(|| {
        let known: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
        serde::de::Error::custom(format!("`{name}` is not a category (one of {})", known.join(", ")))
    })
}

fn role<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<CountryRole, D::Error> {
    let name = String::deserialize(deserializer)?;
    name.trim().to_ascii_uppercase().parse::<CountryRole>().ok().ok_or_else(|| {
        let known: Vec<&str> = CountryRole::ALL.iter().map(|r| r.as_str()).collect();
        serde::de::Error::custom(format!("`{name}` is not a country role (one of {})", known.join(", ")))
    })
}

/// Why a mapping was refused, in words a focal point can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the mapping is invalid: {0}")]
pub struct MappingError(pub String);

/// The presets: ready mappings for publishers' own formats, by name. Each names, in its comments,
/// where its column names come from.
pub const PRESETS: &[(&str, &str)] = &[
    ("hxl", include_str!("../presets/hxl.toml")),
    ("missing-migrants", include_str!("../presets/missing-migrants.toml")),
    ("iom-dtm", include_str!("../presets/iom-dtm.toml")),
    ("unhcr-population", include_str!("../presets/unhcr-population.toml")),
    ("reliefweb-reports", include_str!("../presets/reliefweb-reports.toml")),
    ("ifrc-go-appeals", include_str!("../presets/ifrc-go-appeals.toml")),
];

/// A preset's TOML text by name.
pub fn preset(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.trim())).map(|(_, text)| *text)
}

impl Mapping {
    /// Parses and checks a mapping's TOML text.
    pub fn parse(text: &str) -> Result<Mapping, MappingError> {
        // The message and where, but not the offending line: it may hold a secret typed by mistake.
        let mapping: Mapping = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|span| {
                let before = &text[..span.start.min(text.len())];
                let column = before.chars().rev().take_while(|c| *c != '\n').count() + 1;
                format!(" (line {}, column {column})", before.matches('\n').count() + 1)
            });
            MappingError(format!("{}{}", e.message().trim().replace('\n', " "), at.unwrap_or_default()))
        })?;
        mapping.check().map_err(MappingError)?;
        Ok(mapping)
    }

    /// Every column the mapping reads, with the field that names it.
    pub fn columns(&self) -> Vec<(&'static str, &Column)> {
        let item = &self.item;
        let mut columns: Vec<(&'static str, &Column)> = Vec::new();
        columns.extend(item.id.iter().flatten().map(|c| ("item.id", c)));
        for (field, template) in [("item.title", &item.title), ("item.summary", &item.summary), ("item.url", &item.url)]
        {
            columns.extend(template.iter().flat_map(Template::columns).map(|c| (field, c)));
        }
        for (field, column) in
            [("item.published", &item.published), ("item.updated", &item.updated), ("item.language", &item.language)]
        {
            columns.extend(column.iter().map(|c| (field, c)));
        }
        columns.extend(item.tags.iter().flatten().map(|c| ("item.tags", c)));
        columns.extend(item.countries.iter().flatten().map(|c| ("item.countries", &c.column)));
        columns.extend(self.figures.iter().map(|f| ("figures.column", &f.column)));
        columns.extend(item.deleted.iter().map(|d| ("item.deleted", &d.column)));
        columns
    }

    /// What TOML alone cannot say: fields that belong to the other format, columns of the wrong
    /// kind, pagination without what its kind needs, secrets written out.
    fn check(&self) -> Result<(), String> {
        let json = self.format == Format::Json;
        if !json {
            if self.records.is_some() {
                return Err("records: only a JSON mapping says where its records are".into());
            }
            if self.pagination.is_some() {
                return Err("pagination: only a JSON mapping is paged".into());
            }
        }
        for (field, column) in self.columns() {
            match (json, column) {
                (true, Column::Pointer(_)) | (false, Column::Header(_) | Column::Hxl(_)) => {}
                (true, other) => {
                    return Err(format!(
                        "{field}: `{other}` is not a JSON Pointer; a JSON mapping names fields like `/{other}`"
                    ))
                }
                (false, Column::Pointer(p)) => {
                    return Err(format!(
                        "{field}: `{}` is a JSON Pointer; a CSV mapping names columns by header or HXL tag",
                        p.as_str()
                    ))
                }
            }
        }
        if self.item.deleted.as_ref().is_some_and(|d| d.values.iter().all(|v| v.trim().is_empty())) {
            return Err("item.deleted.values: name the values that mark a deleted record, e.g. [\"deleted\"]".into());
        }
        if json && self.item.title.is_none() {
            return Err("item.title: a JSON mapping needs a title template, e.g. `title = \"{/title}\"`".into());
        }
        for (name, value) in &self.headers {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)) {
                return Err(format!("headers: `{name}` is not a header name"));
            }
            match value {
                HeaderValue::Plain(_) if looks_secret(name) => {
                    return Err(format!(
                        "headers.{name}: a secret must not be written in the mapping; \
                         give it as {{ env = \"NAME\" }} and set NAME in the hub's environment"
                    ));
                }
                HeaderValue::Plain(value) if value.chars().any(char::is_control) => {
                    return Err(format!("headers.{name}: the value holds a control character"));
                }
                HeaderValue::Env(var)
                    if var.is_empty() || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
                {
                    return Err(format!("headers.{name}: `{var}` is not an environment variable name"));
                }
                _ => {}
            }
        }
        if let Some(pagination) = &self.pagination {
            pagination.check()?;
        }
        Ok(())
    }
}

/// Header names that carry credentials: their values must come from the environment.
fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["authorization", "cookie", "key", "token", "secret", "password", "auth"].iter().any(|s| name.contains(s))
}

impl Pagination {
    fn check(&self) -> Result<(), String> {
        let given = |name: &str, present: bool| present.then(|| name.to_string());
        let fields = [
            given("next", self.next.is_some()),
            given("offset_param", self.offset_param.is_some()),
            given("limit_param", self.limit_param.is_some()),
            given("limit", self.limit.is_some()),
            given("total", self.total.is_some()),
            given("page_param", self.page_param.is_some()),
            given("first_page", self.first_page.is_some()),
            given("pages", self.pages.is_some()),
            given("cursor", self.cursor.is_some()),
            given("cursor_param", self.cursor_param.is_some()),
        ];
        let (kind, allowed, required): (&str, &[&str], Option<&str>) = match self.kind {
            PageKind::NextLink => ("next_link", &["next"], Some("next")),
            PageKind::Offset => ("offset", &["offset_param", "limit_param", "limit", "total"], None),
            PageKind::Page => ("page", &["page_param", "first_page", "pages", "limit_param", "limit"], None),
            PageKind::Cursor => ("cursor", &["cursor", "cursor_param"], Some("cursor")),
        };
        if let Some(field) = fields.iter().flatten().find(|f| !allowed.contains(&f.as_str())) {
            return Err(format!(
                "pagination.{field} does not apply to kind = \"{kind}\" (it takes {})",
                allowed.join(", ")
            ));
        }
        if let Some(field) = required.filter(|r| !fields.iter().flatten().any(|f| f == r)) {
            return Err(format!("pagination.{field} is required for kind = \"{kind}\""));
        }
        if self.limit == Some(0) {
            return Err("pagination.limit must be at least 1".into());
        }
        if let Some(max) = self.max_pages.filter(|m| !(1..=MAX_PAGES).contains(m)) {
            return Err(format!("pagination.max_pages is {max}; it must be between 1 and {MAX_PAGES}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        Mapping::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_mapping_parses_with_its_columns_and_templates() {
        let mapping = Mapping::parse(
            "format = \"csv\"\nsnapshot = true\n[item]\ntitle = \"{#event} in {Country} {{live}}\"\n\
             countries = [{ column = \"#country+code\", role = \"origin\" }]\n[[figures]]\ncolumn = \"#affected+f\"",
        )
        .unwrap();
        assert!(mapping.snapshot);
        let title = mapping.item.title.unwrap();
        let columns: Vec<String> = title.columns().map(|c| c.to_string()).collect();
        assert_eq!(columns, ["#event", "Country"]);
        assert_eq!(title.parts.last(), Some(&Part::Text(" {live}".into())));
        assert_eq!(mapping.item.countries.unwrap()[0].role, CountryRole::Origin);
        assert_eq!(mapping.figures[0].column.to_string(), "#affected+f");
    }

    #[test]
    fn an_invalid_mapping_names_what_is_wrong() {
        assert!(error("format = \"xls\"").contains("xls"));
        // Where, but not the line itself: it may hold a secret typed by mistake.
        let typo = error("format = \"json\"\n[headers]\nX-Key = { env = \"K\", value = \"s3cret\" }");
        assert!(typo.contains("line 3") && !typo.contains("s3cret"), "{typo}");
        assert!(error("format = \"csv\"\n[item]\ntitel = \"x\"").contains("titel"));
        assert!(error("format = \"csv\"\n[item]\ncategory = \"weather\"").contains("`weather` is not a category"));
        assert!(error("format = \"csv\"\n[item]\ntitle = \"{Country\"").contains("never closed"));
        assert!(error("format = \"csv\"\n[item]\ntitle = \"{A} and {B\"").contains("never closed"));
        assert!(error("format = \"csv\"\n[item]\ntitle = \"a } b\"").contains("closes nothing"));
        assert!(error("format = \"csv\"\n[item]\npublished = \"#2date\"").contains("not an HXL tag pattern"));
        let role = error("format = \"csv\"\n[item]\ncountries = [{ column = \"Country\", role = \"home\" }]");
        assert!(role.contains("`home` is not a country role"), "{role}");
    }
}
