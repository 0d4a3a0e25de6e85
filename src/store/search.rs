//! Our search syntax — words, `"quoted phrases"`, `OR`, `-exclusion`, and `word*` for a prefix —
//! parsed here once, over text normalised by the connectors' normaliser, and translated by each
//! backend (SQLite FTS5, PostgreSQL text search).

use connectors::text::{normalise, tokens};

/// Most terms a query may have.
const MAX_TERMS: usize = 32;

/// A search term: one or more normalised tokens that must appear consecutively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Normalised tokens.
    pub tokens: Vec<String>,
    /// The last token is a prefix.
    pub prefix: bool,
}

/// A parsed query: every clause must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// Groups of which at least one term must match (`a OR b`); a plain word is a group of one.
    pub required: Vec<Vec<Term>>,
    /// Terms that must not match.
    pub excluded: Vec<Term>,
}

/// Why a search string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// Nothing to search for.
    #[error("the search has no words to look for (exclusions alone cannot be searched)")]
    Empty,
    /// A quote was opened and never closed.
    #[error("the search has an unclosed quote")]
    UnclosedQuote,
    /// `OR` without a term on one side.
    #[error("`OR` needs a word or phrase on both sides")]
    DanglingOr,
    /// Too many terms.
    #[error("the search has more than {MAX_TERMS} terms")]
    TooLong,
}

enum Token {
    Term { term: Term, negated: bool },
    Or,
}

impl SearchQuery {
    /// Parses a search string.
    pub fn parse(input: &str) -> Result<SearchQuery, SearchError> {
        let lexed = lex(input)?;
        if lexed.iter().filter(|t| matches!(t, Token::Term { .. })).count() > MAX_TERMS {
            return Err(SearchError::TooLong);
        }
        let mut query = SearchQuery { required: Vec::new(), excluded: Vec::new() };
        let mut pending_or = false;
        for token in lexed {
            match token {
                Token::Or => {
                    if pending_or || query.required.is_empty() {
                        return Err(SearchError::DanglingOr);
                    }
                    pending_or = true;
                }
                Token::Term { term, negated: true } => {
                    if pending_or {
                        return Err(SearchError::DanglingOr);
                    }
                    query.excluded.push(term);
                }
                Token::Term { term, negated: false } => {
                    match (pending_or, query.required.last_mut()) {
                        (true, Some(group)) => group.push(term),
                        _ => query.required.push(vec![term]),
                    }
                    pending_or = false;
                }
            }
        }
        if pending_or {
            return Err(SearchError::DanglingOr);
        }
        if query.required.is_empty() {
            return Err(SearchError::Empty);
        }
        Ok(query)
    }

    /// The query as an SQLite FTS5 MATCH expression. Every token is quoted, so nothing a user
    /// types is interpreted as FTS5 syntax.
    pub fn to_fts5(&self) -> String {
        fn term(t: &Term) -> String {
            let phrase = format!("\"{}\"", t.tokens.join(" "));
            if t.prefix {
                format!("{phrase}*")
            } else {
                phrase
            }
        }
        let mut out = self
            .required
            .iter()
            .map(|group| {
                let terms: Vec<String> = group.iter().map(term).collect();
                if terms.len() == 1 {
                    terms[0].clone()
                } else {
                    format!("({})", terms.join(" OR "))
                }
            })
            .collect::<Vec<_>>()
            .join(" AND ");
        for t in &self.excluded {
            out.push_str(" NOT ");
            out.push_str(&term(t));
        }
        out
    }

    /// The query as a PostgreSQL `tsquery` for `to_tsquery`: every token is quoted, so nothing a
    /// user types is interpreted as tsquery syntax; a phrase's tokens follow each other (`<->`).
    pub fn to_tsquery(&self) -> String {
        fn term(t: &Term) -> String {
            let last = t.tokens.len() - 1;
            let tokens: Vec<String> = t
                .tokens
                .iter()
                .enumerate()
                .map(|(n, token)| {
                    let quoted = format!("'{}'", token.replace('\\', "\\\\").replace('\'', "''"));
                    if t.prefix && n == last {
                        format!("{quoted}:*")
                    } else {
                        quoted
                    }
                })
                .collect();
            if tokens.len() == 1 {
                tokens[0].clone()
            } else {
                format!("({})", tokens.join(" <-> "))
            }
        }
        let mut out = self
            .required
            .iter()
            .map(|group| {
                let terms: Vec<String> = group.iter().map(term).collect();
                if terms.len() == 1 {
                    terms[0].clone()
                } else {
                    format!("({})", terms.join(" | "))
                }
            })
            .collect::<Vec<_>>()
            .join(" & ");
        for t in &self.excluded {
            out.push_str(" & !");
            out.push_str(&term(t));
        }
        out
    }
}

fn make_term(text: &str, prefix: bool) -> Option<Term> {
    let norm = normalise(text);
    let toks: Vec<String> = tokens(&norm).map(str::to_string).collect();
    (!toks.is_empty()).then_some(Term { tokens: toks, prefix })
}

fn lex(input: &str) -> Result<Vec<Token>, SearchError> {
    let mut out = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(_, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let negated = c == '-';
        if negated {
            chars.next();
        }
        let quoted = matches!(chars.peek(), Some((_, '"')));
        let text = if quoted {
            chars.next();
            let mut phrase = String::new();
            let mut closed = false;
            for (_, c) in chars.by_ref() {
                if c == '"' {
                    closed = true;
                    break;
                }
                phrase.push(c);
            }
            if !closed {
                return Err(SearchError::UnclosedQuote);
            }
            phrase
        } else {
            let mut word = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
            word
        };
        if !quoted && !negated && text == "OR" {
            out.push(Token::Or);
            continue;
        }
        let (body, prefix) = match text.strip_suffix('*') {
            Some(body) if !quoted => (body.to_string(), true),
            _ => (text.clone(), false),
        };
        if let Some(term) = make_term(&body, prefix) {
            out.push(Token::Term { term, negated });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_phrases_or_and_exclusion_translate_to_quoted_fts5() {
        let q = SearchQuery::parse(r#"Libye "route maritime" OR Tunisie -sport"#).unwrap();
        assert_eq!(q.to_fts5(), r#""libye" AND ("route maritime" OR "tunisie") NOT "sport""#);
    }

    #[test]
    fn diacritics_and_arabic_variants_are_normalised_like_the_index() {
        let q = SearchQuery::parse("Réfugiés إغلاق").unwrap();
        assert_eq!(q.to_fts5(), r#""refugies" AND "اغلاق""#);
    }

    #[test]
    fn words_phrases_or_and_exclusion_translate_to_quoted_tsquery() {
        let q = SearchQuery::parse(r#"Libye "route maritime" OR Tunisie -sport deport*"#).unwrap();
        assert_eq!(q.to_tsquery(), "'libye' & (('route' <-> 'maritime') | 'tunisie') & 'deport':* & !'sport'");
        assert_eq!(SearchQuery::parse("it's").unwrap().to_tsquery(), "('it' <-> 's')");
    }

    #[test]
    fn fts5_syntax_typed_by_users_is_inert() {
        let q = SearchQuery::parse("NEAR(a b) title:x ^y").unwrap();
        assert_eq!(q.to_fts5(), r#""near a" AND "b" AND "title x" AND "y""#);
    }

    #[test]
    fn prefixes_are_supported() {
        assert_eq!(SearchQuery::parse("deport*").unwrap().to_fts5(), r#""deport"*"#);
    }

    #[test]
    fn malformed_searches_are_refused() {
        assert_eq!(SearchQuery::parse(""), Err(SearchError::Empty));
        assert_eq!(SearchQuery::parse("-sport"), Err(SearchError::Empty));
        assert_eq!(SearchQuery::parse("\"open"), Err(SearchError::UnclosedQuote));
        assert_eq!(SearchQuery::parse("OR a"), Err(SearchError::DanglingOr));
        assert_eq!(SearchQuery::parse("a OR"), Err(SearchError::DanglingOr));
    }
}
