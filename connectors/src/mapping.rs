//! Mappings: how the rows of a CSV file (and later the records of a JSON API) become items. A
//! mapping is a small TOML document kept with the feed; [`Mapping::parse`] checks it when the feed
//! is registered, and an invalid one is an error naming the field at fault.
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
}

impl Column {
    /// Parses a column name: a hashtag pattern when it starts with `#`, else a header.
    pub fn parse(text: &str) -> Result<Column, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("a column name is empty".into());
        }
        if text.starts_with('#') {
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
];

/// A preset's TOML text by name.
pub fn preset(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.trim())).map(|(_, text)| *text)
}

impl Mapping {
    /// Parses and checks a mapping's TOML text.
    pub fn parse(text: &str) -> Result<Mapping, MappingError> {
        toml::from_str(text).map_err(|e| MappingError(e.to_string().trim().replace('\n', " ")))
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
