//! Countries: the [`CountryCode`] newtype and the name matcher over the generated five-language
//! table in `rules/countries.tsv` (see `rules/COUNTRIES.md` for its source and generator).

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::text::{normalise, tokens, TokenMap};

const TABLE: &str = include_str!("../rules/countries.tsv");

/// An ISO 3166-1 alpha-2 country code (plus `XK`, Kosovo, as the IFRC uses it), always upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Parses an alpha-2 or alpha-3 code, in any case; anything else is an error.
    pub fn parse(code: &str) -> Result<Self, String> {
        let upper = code.trim().to_ascii_uppercase();
        let table = table();
        let alpha2 = match upper.len() {
            2 => table.alpha2.contains_key(upper.as_str()).then_some(upper.as_str()),
            3 => table.alpha3.get(upper.as_str()).copied(),
            _ => None,
        };
        match alpha2 {
            Some(a2) => {
                let b = a2.as_bytes();
                Ok(CountryCode([b[0], b[1]]))
            }
            None => Err(format!("`{code}` is not an ISO 3166-1 alpha-2 or alpha-3 country code")),
        }
    }

    /// The alpha-2 code.
    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII upper-case letters.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// The alpha-3 code, where the table has one.
    pub fn alpha3(&self) -> Option<&'static str> {
        table().alpha2.get(self.as_str()).copied()
    }

    /// The country's English name.
    pub fn english_name(&self) -> Option<&'static str> {
        table().english.get(self.as_str()).copied()
    }
}

impl std::fmt::Display for CountryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A country name found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameMatch {
    /// The country.
    pub code: CountryCode,
    /// The name as the table writes it.
    pub name: &'static str,
    /// Whether the name is known to be ambiguous (Congo, Guinea, Niger, Georgia, ...).
    pub ambiguous: bool,
}

struct Entry {
    tokens: Vec<String>,
    code: CountryCode,
    name: &'static str,
    ambiguous: bool,
}

struct Table {
    /// alpha-2 → alpha-3.
    alpha2: HashMap<&'static str, &'static str>,
    /// alpha-3 → alpha-2.
    alpha3: HashMap<&'static str, &'static str>,
    english: HashMap<&'static str, &'static str>,
    /// First normalised token → names starting with it, longest first.
    by_first_token: TokenMap<Vec<Entry>>,
}

fn table() -> &'static Table {
    static TABLE_CELL: OnceLock<Table> = OnceLock::new();
    TABLE_CELL.get_or_init(|| {
        let mut t = Table {
            alpha2: HashMap::new(),
            alpha3: HashMap::new(),
            english: HashMap::new(),
            by_first_token: TokenMap::default(),
        };
        let mut seen: std::collections::HashSet<(String, CountryCode)> = Default::default();
        for line in TABLE.lines().skip(1) {
            let cols: Vec<&'static str> = line.split('\t').collect();
            let [a2, a3, lang, name, ambiguous] = cols[..] else { continue };
            if a2.len() != 2 {
                continue;
            }
            t.alpha2.insert(a2, a3);
            if a3.len() == 3 {
                t.alpha3.insert(a3, a2);
            }
            if lang == "en" {
                t.english.entry(a2).or_insert(name);
            }
            let b = a2.as_bytes();
            let code = CountryCode([b[0], b[1]]);
            let norm = normalise(name);
            let toks: Vec<String> = tokens(&norm).map(str::to_string).collect();
            if toks.is_empty() || !seen.insert((norm.clone(), code)) {
                continue;
            }
            t.by_first_token.entry(toks[0].clone()).or_default().push(Entry {
                tokens: toks,
                code,
                name,
                ambiguous: ambiguous == "1",
            });
        }
        for entries in t.by_first_token.values_mut() {
            entries.sort_by_key(|e| std::cmp::Reverse(e.tokens.len()));
        }
        t
    })
}

/// Finds country names in `text` (any of the five languages), longest match first, each country
/// once, in order of first appearance.
pub fn find_names(text: &str) -> Vec<NameMatch> {
    let norm = normalise(text);
    let toks: Vec<&str> = tokens(&norm).collect();
    find_in_tokens(&toks)
}

/// As [`find_names`], over text already normalised and split into tokens.
pub fn find_in_tokens(toks: &[&str]) -> Vec<NameMatch> {
    let table = table();
    let mut found: Vec<NameMatch> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let fits = |e: &&Entry| {
            e.tokens.len() <= toks.len() - i
                && e.tokens
                    .iter()
                    .zip(&toks[i..])
                    .enumerate()
                    .all(|(k, (a, b))| a == b || (k == 0 && strip_arabic_clitic(b) == Some(a.as_str())))
        };
        let matched = table.by_first_token.get(toks[i]).and_then(|entries| entries.iter().find(fits)).or_else(|| {
            let stripped = strip_arabic_clitic(toks[i])?;
            table.by_first_token.get(stripped).and_then(|entries| entries.iter().find(fits))
        });
        match matched {
            Some(e) => {
                if !found.iter().any(|f| f.code == e.code) {
                    found.push(NameMatch { code: e.code, name: e.name, ambiguous: e.ambiguous });
                }
                i += e.tokens.len();
            }
            None => i += 1,
        }
    }
    found
}

/// An Arabic token without the one-letter conjunction or preposition (و ب ل ف) joined to its
/// front, when it has one and enough letters remain to be a word.
pub fn strip_arabic_clitic(token: &str) -> Option<&str> {
    // Each of the four letters is encoded starting with 0xD8 or 0xD9: most tokens stop here.
    if !matches!(token.as_bytes().first(), Some(0xD8 | 0xD9)) {
        return None;
    }
    let rest = token.strip_prefix(['و', 'ب', 'ل', 'ف'])?;
    (rest.chars().count() >= 3).then_some(rest)
}

/// Resolves a whole string (a tag, a CSV cell) that is a country name or code to a country.
pub fn resolve_exact(text: &str) -> Option<NameMatch> {
    let trimmed = text.trim();
    if (trimmed.len() == 2 || trimmed.len() == 3) && trimmed.chars().all(|c| c.is_ascii_uppercase()) {
        if let Ok(code) = CountryCode::parse(trimmed) {
            return Some(NameMatch { code, name: code.english_name().unwrap_or(""), ambiguous: false });
        }
    }
    let norm = normalise(trimmed);
    let toks: Vec<&str> = tokens(&norm).collect();
    let table = table();
    let entries = table.by_first_token.get(*toks.first()?)?;
    entries
        .iter()
        .find(|e| e.tokens.len() == toks.len() && e.tokens.iter().zip(&toks).all(|(a, b)| a == b))
        .map(|e| NameMatch { code: e.code, name: e.name, ambiguous: e.ambiguous })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_from_alpha2_and_alpha3_only() {
        assert_eq!(CountryCode::parse("fr").unwrap().as_str(), "FR");
        assert_eq!(CountryCode::parse("DEU").unwrap().as_str(), "DE");
        assert_eq!(CountryCode::parse("KAZ").unwrap().as_str(), "KZ");
        assert!(CountryCode::parse("France").is_err());
        assert!(CountryCode::parse("ZZ").is_err());
        assert!(CountryCode::parse("").is_err());
    }

    #[test]
    fn names_are_found_in_five_languages() {
        let codes = |t: &str| find_names(t).iter().map(|m| m.code.to_string()).collect::<Vec<_>>();
        assert_eq!(codes("Arrivals in Italy from Libya rose"), ["IT", "LY"]);
        assert_eq!(codes("Départs de Libye vers l'Italie"), ["LY", "IT"]);
        assert_eq!(codes("Migrantes cruzan de Colombia a Panamá"), ["CO", "PA"]);
        assert_eq!(codes("وصول مهاجرين من ليبيا إلى إيطاليا"), ["LY", "IT"]);
        assert!(codes("Мигранты из Таджикистана в России").contains(&"TJ".to_string()));
    }

    #[test]
    fn arabic_names_after_a_joined_conjunction_are_found() {
        let codes: Vec<String> = find_names("النيجر ومالي").iter().map(|m| m.code.to_string()).collect();
        assert_eq!(codes, ["NE", "ML"]);
    }

    #[test]
    fn longest_name_wins() {
        let found = find_names("Refugees from the Democratic Republic of the Congo");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].code.as_str(), "CD");
    }

    #[test]
    fn ambiguous_names_are_flagged() {
        let found = find_names("Flooding in Niger");
        assert_eq!(found[0].code.as_str(), "NE");
        assert!(found[0].ambiguous);
    }
}
