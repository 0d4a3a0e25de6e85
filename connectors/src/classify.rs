//! Classification: categories from the entry's own tags, from the multilingual keyword rules kept
//! as data in `rules/categories.toml`, or from the feed's default — recording the source and the
//! matched terms — and the named route from `rules/routes.toml`.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::learned;
use crate::model::{Category, Classification, ClassificationSource};
use crate::text::{normalise, tokens, TokenMap};

const CATEGORY_RULES: &str = include_str!("../rules/categories.toml");
const ROUTE_RULES: &str = include_str!("../rules/routes.toml");

/// A term compiled for matching: normalised tokens, each optionally a prefix (`word*`).
#[derive(Debug, Clone)]
struct Term {
    tokens: Vec<(String, bool)>,
    /// The term as written in the rules, reported in `Classification.terms`.
    text: String,
}

impl Term {
    fn compile(text: &str) -> Option<Term> {
        let mut toks: Vec<(String, bool)> = Vec::new();
        for word in text.split_whitespace() {
            let (body, prefix) = match word.strip_suffix('*') {
                Some(body) => (body, true),
                None => (word, false),
            };
            let norm = normalise(body);
            let parts: Vec<&str> = tokens(&norm).collect();
            let last = parts.len().saturating_sub(1);
            toks.extend(parts.iter().enumerate().map(|(k, t)| (t.to_string(), prefix && k == last)));
        }
        (!toks.is_empty()).then(|| Term { tokens: toks, text: text.trim().to_string() })
    }

    /// Whether the term matches at position `i` of `toks`. An Arabic token may carry one joined
    /// conjunction or preposition (و ب ل ف) that the term does not write.
    fn matches_at(&self, toks: &[&str], i: usize) -> bool {
        if self.tokens.len() > toks.len() - i {
            return false;
        }
        self.tokens.iter().enumerate().all(|(k, (t, prefix))| {
            let tok = toks[i + k];
            let fits = |tok: &str| if *prefix { tok.starts_with(t.as_str()) } else { tok == t };
            fits(tok) || crate::geo::strip_arabic_clitic(tok).is_some_and(fits)
        })
    }
}

/// A set of terms indexed by their first token: ordinary terms in a hash map by the whole token,
/// prefix terms (`migra*`) in a byte trie of their prefixes. Matching a token costs one hash lookup
/// and a walk down the trie as far as the token's bytes follow it (usually one or two steps);
/// candidates are then checked in full by `matches_at`.
struct Matcher<T> {
    terms: Vec<(Term, T)>,
    by_first: TokenMap<Vec<usize>>,
    by_prefix: PrefixTrie,
}

impl<T: Copy> Matcher<T> {
    fn new(terms: impl IntoIterator<Item = (Term, T)>) -> Self {
        let terms: Vec<(Term, T)> = terms.into_iter().collect();
        let mut by_first: TokenMap<Vec<usize>> = TokenMap::default();
        let mut by_prefix = PrefixTrie::default();
        for (i, (term, _)) in terms.iter().enumerate() {
            match &term.tokens[0] {
                (first, true) => by_prefix.insert(first, i),
                (first, false) => by_first.entry(first.clone()).or_default().push(i),
            }
        }
        Matcher { terms, by_first, by_prefix }
    }

    /// Replaces `into` with the terms whose first token matches `token`, in the rules' order (the
    /// rest of each term is checked by `matches_at`).
    fn candidates(&self, token: &str, into: &mut Vec<usize>) {
        into.clear();
        if let Some(terms) = self.by_first.get(token) {
            into.extend_from_slice(terms);
        }
        self.by_prefix.starting(token, into);
        if into.len() > 1 {
            into.sort_unstable();
        }
    }

    /// Every (term, payload) matching somewhere in `toks`; a term is reported once. `starts` holds
    /// each token's [`Gate`] bits: only where `bit` is set may a term of this matcher start.
    fn find(&self, toks: &[&str], starts: &[u8], bit: u8) -> Vec<(&Term, T)> {
        let mut seen: Vec<usize> = Vec::new();
        let mut candidates: Vec<usize> = Vec::new();
        for i in 0..toks.len() {
            if starts[i] & bit == 0 {
                continue;
            }
            for token in std::iter::once(toks[i]).chain(crate::geo::strip_arabic_clitic(toks[i])) {
                // In the rules files' order: the terms found are reported in that order, and they
                // are part of an item's content hash.
                self.candidates(token, &mut candidates);
                for &c in &candidates {
                    if !seen.contains(&c) && self.terms[c].0.matches_at(toks, i) {
                        seen.push(c);
                    }
                }
            }
        }
        seen.into_iter().map(|i| (&self.terms[i].0, self.terms[i].1)).collect()
    }
}

/// Prefixes in a byte trie: walking a token's bytes meets every prefix it starts with. Prefixes
/// are whole UTF-8 strings, so a byte-wise match is a `starts_with`.
struct PrefixTrie {
    /// The node for each first byte (0: none); most tokens stop here.
    first: [usize; 256],
    /// Node 0 is the root (the empty prefix, never a term).
    nodes: Vec<TrieNode>,
}

#[derive(Default)]
struct TrieNode {
    children: Vec<(u8, usize)>,
    /// The terms whose prefix ends at this node.
    terms: Vec<usize>,
}

impl Default for PrefixTrie {
    fn default() -> Self {
        PrefixTrie { first: [0; 256], nodes: vec![TrieNode::default()] }
    }
}

impl PrefixTrie {
    fn insert(&mut self, prefix: &str, term: usize) {
        self.insert_once(prefix, term);
    }

    /// Inserts `term` under `prefix` unless it is there already.
    fn insert_once(&mut self, prefix: &str, term: usize) {
        let mut at = 0;
        for &b in prefix.as_bytes() {
            at = match self.child(at, b) {
                Some(next) => next,
                None => {
                    self.nodes.push(TrieNode::default());
                    let next = self.nodes.len() - 1;
                    if at == 0 {
                        self.first[usize::from(b)] = next;
                    } else {
                        self.nodes[at].children.push((b, next));
                    }
                    next
                }
            };
        }
        if !self.nodes[at].terms.contains(&term) {
            self.nodes[at].terms.push(term);
        }
    }

    fn child(&self, node: usize, byte: u8) -> Option<usize> {
        if node == 0 {
            return Some(self.first[usize::from(byte)]).filter(|&next| next != 0);
        }
        self.nodes[node].children.iter().find(|(b, _)| *b == byte).map(|&(_, next)| next)
    }

    /// Adds the terms whose prefix `token` starts with to `into`.
    fn starting(&self, token: &str, into: &mut Vec<usize>) {
        let mut at = 0;
        for b in token.bytes() {
            match self.child(at, b) {
                Some(next) => at = next,
                None => return,
            }
            into.extend_from_slice(&self.nodes[at].terms);
        }
    }
}

/// The matchers, as bits of [`Gate`].
const CATEGORIES: u8 = 1;
const COMBOS: u8 = 2;
const EXCLUSIONS: u8 = 4;
const ROUTES: u8 = 8;
const ANCHORS: u8 = 16;

/// The first tokens of every matcher's terms, each with the bits of the matchers it starts a term
/// of. One hash lookup and one trie walk per token tell which matchers need to look at it at all
/// (most tokens start no term), instead of a lookup and a walk in each matcher.
#[derive(Default)]
struct Gate {
    exact: TokenMap<u8>,
    /// Prefix terms' first tokens; a node's "terms" are matcher bits.
    prefixes: PrefixTrie,
}

impl Gate {
    fn add<T>(&mut self, matcher: &Matcher<T>, bit: u8) {
        for (term, _) in &matcher.terms {
            match &term.tokens[0] {
                (first, true) => self.prefixes.insert_once(first, usize::from(bit)),
                (first, false) => *self.exact.entry(first.clone()).or_default() |= bit,
            }
        }
    }

    fn bits(&self, token: &str, buf: &mut Vec<usize>) -> u8 {
        let mut bits = self.exact.get(token).copied().unwrap_or(0);
        buf.clear();
        self.prefixes.starting(token, buf);
        for b in buf.iter() {
            bits |= *b as u8;
        }
        bits
    }

    /// For each token, the matchers that have a term starting with it (or with it without an
    /// Arabic clitic), as [`Matcher::find`] checks them.
    fn starts(&self, toks: &[&str]) -> Vec<u8> {
        let mut buf = Vec::new();
        toks.iter()
            .map(|tok| {
                let stripped = crate::geo::strip_arabic_clitic(tok).map_or(0, |s| self.bits(s, &mut buf));
                self.bits(tok, &mut buf) | stripped
            })
            .collect()
    }
}

#[derive(Deserialize)]
struct CategoryFile {
    /// Terms that are evidence for their category.
    rule: Vec<TermRule>,
    #[serde(default)]
    combo: Vec<ComboRule>,
    /// Words that say an item only talks about a change (a proposal, a call for one, a meeting on
    /// one) or uses the category's words in another sense (a marathon's route): when one
    /// appears, the rules do not give the category, whatever else matched.
    #[serde(default)]
    exclude: Vec<TermRule>,
    /// Words of the category's subject (migration, for a regulatory change): a text without any
    /// gets the category from the learned model only when it is sure.
    #[serde(default)]
    anchor: Vec<TermRule>,
}

/// Terms in one language, for one category.
#[derive(Deserialize)]
struct TermRule {
    category: String,
    #[allow(dead_code)]
    lang: String,
    terms: Vec<String>,
}

impl TermRule {
    fn category(&self) -> Category {
        // The rule files are compiled in and covered by tests: an unknown name is a build defect.
        self.category.parse().expect("rules name known categories")
    }
}

/// One matcher over the terms of `rules`, each labelled with its rule's category.
fn term_matcher(rules: &[TermRule]) -> Matcher<Category> {
    let terms = rules.iter().flat_map(|r| {
        let category = r.category();
        r.terms.iter().filter_map(move |t| Term::compile(t).map(|term| (term, category)))
    });
    Matcher::new(terms.collect::<Vec<_>>())
}

/// Evidence from words that say little alone: the category applies when the text holds a term
/// of every group of `all` (a crossing and a change, a legal act and a migration subject) and no
/// term of `none`.
#[derive(Deserialize)]
struct ComboRule {
    category: String,
    #[allow(dead_code)]
    lang: String,
    all: Vec<Vec<String>>,
    #[serde(default)]
    none: Vec<String>,
}

/// Which combo and which of its groups a term belongs to (`NONE_GROUP` for its exclusions).
type ComboPart = (u32, u8);
const NONE_GROUP: u8 = u8::MAX;

#[derive(Deserialize)]
struct RouteFile {
    route: Vec<RouteRule>,
}

#[derive(Deserialize)]
struct RouteRule {
    name: String,
    terms: Vec<String>,
}

struct Rules {
    categories: Matcher<Category>,
    /// The terms of every combo, and each combo's category and number of groups.
    combo_terms: Matcher<ComboPart>,
    combos: Vec<(Category, u8)>,
    /// Exclusion terms, by the category they cancel.
    exclusions: Matcher<Category>,
    /// Anchor terms, by the category they anchor, and the categories that have any: a text
    /// without one of them gets such a category from the learned model only when it is sure.
    anchors: Matcher<Category>,
    anchored: Vec<Category>,
    routes: Matcher<usize>,
    route_names: Vec<String>,
    gate: Gate,
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        // The rule files are compiled into the crate and covered by tests, so a parse failure is a
        // build defect, not an input error.
        let cats: CategoryFile = toml::from_str(CATEGORY_RULES).expect("rules/categories.toml is valid");
        let routes: RouteFile = toml::from_str(ROUTE_RULES).expect("rules/routes.toml is valid");
        let route_terms = routes
            .route
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.terms.iter().filter_map(move |t| Term::compile(t).map(|term| (term, i))));
        let combos: Vec<(Category, u8)> = cats
            .combo
            .iter()
            .map(|c| (c.category.parse().expect("rules name known categories"), c.all.len() as u8))
            .collect();
        let combo_terms = cats.combo.iter().enumerate().flat_map(|(i, c)| {
            let groups = c.all.iter().enumerate().flat_map(move |(g, terms)| terms.iter().map(move |t| (t, g as u8)));
            groups
                .chain(c.none.iter().map(|t| (t, NONE_GROUP)))
                .filter_map(move |(t, g)| Term::compile(t).map(|term| (term, (i as u32, g))))
        });
        let mut anchored = Vec::new();
        for r in &cats.anchor {
            push_unique(&mut anchored, r.category());
        }
        let anchors = term_matcher(&cats.anchor);
        let categories = term_matcher(&cats.rule);
        let combo_terms = Matcher::new(combo_terms.collect::<Vec<_>>());
        let exclusions = term_matcher(&cats.exclude);
        let route_matcher = Matcher::new(route_terms.collect::<Vec<_>>());
        let mut gate = Gate::default();
        gate.add(&categories, CATEGORIES);
        gate.add(&combo_terms, COMBOS);
        gate.add(&exclusions, EXCLUSIONS);
        gate.add(&anchors, ANCHORS);
        gate.add(&route_matcher, ROUTES);
        Rules {
            categories,
            combo_terms,
            combos,
            exclusions,
            anchors,
            anchored,
            routes: route_matcher,
            route_names: routes.route.into_iter().map(|r| r.name).collect(),
            gate,
        }
    })
}

/// What the classifier looks at.
#[derive(Debug, Clone, Copy, Default)]
pub struct Input<'a> {
    /// Plain-text title.
    pub title: &'a str,
    /// Plain-text summary.
    pub summary: &'a str,
    /// The entry's own categories or tags.
    pub tags: &'a [String],
    /// The feed's default category.
    pub default: Option<Category>,
}

/// Classifies an entry. Priority of the primary category's source: the entry's own tags, then the
/// rules, then the feed default; `categories` holds every category any of them found.
pub fn classify(input: Input<'_>) -> Classification {
    classify_with(input, Some(learned::model()))
}

/// What the keyword rules alone say of each of the learned model's categories
/// ([`learned::CATEGORIES`]), and whether the text is anchored for it: for choosing the model's
/// thresholds.
pub fn rules_say(input: Input<'_>) -> [(learned::Rules, bool); 2] {
    // What the rules found in the text itself: not the entry's tags nor the feed's default.
    let found = classify_with(Input { tags: &[], default: None, ..input }, None).categories;
    let rules = rules();
    let mut excluded = Vec::new();
    let mut anchors = Vec::new();
    for text in [input.title, input.summary] {
        let norm = normalise(text);
        let toks: Vec<&str> = tokens(&norm).collect();
        let starts = rules.gate.starts(&toks);
        excluded.extend(rules.exclusions.find(&toks, &starts, EXCLUSIONS).into_iter().map(|(_, c)| c));
        anchors.extend(rules.anchors.find(&toks, &starts, ANCHORS).into_iter().map(|(_, c)| c));
    }
    learned::CATEGORIES.map(|c| rules_said(c, &found, &excluded, &anchors, &rules.anchored))
}

/// What the rules say of `category`, given the categories they found (`found`), those an
/// exclusion term spoke of, and those an anchor term anchored; and whether the text is anchored
/// for it (`anchored` lists the categories that have anchor terms at all).
fn rules_said(
    category: Category,
    found: &[Category],
    excluded: &[Category],
    anchors: &[Category],
    anchored: &[Category],
) -> (learned::Rules, bool) {
    let said = if found.contains(&category) {
        learned::Rules::Found
    } else if excluded.contains(&category) {
        learned::Rules::Excluded
    } else if found.iter().any(|c| *c != category && *c != Category::Other) {
        learned::Rules::Elsewhere
    } else {
        learned::Rules::Silent
    };
    (said, anchors.contains(&category) || !anchored.contains(&category))
}

/// As [`classify`], with another learned model or none (the rules alone): for evaluating them.
pub fn classify_with(input: Input<'_>, model: Option<&learned::Model>) -> Classification {
    let title_norm = normalise(input.title);
    let summary_norm = normalise(input.summary);
    let title_toks: Vec<&str> = tokens(&title_norm).collect();
    let summary_toks: Vec<&str> = tokens(&summary_norm).collect();
    classify_tokens_with(&title_toks, &summary_toks, input.tags, input.default, model)
}

/// As [`classify`], over a title and summary already normalised and split into tokens.
pub fn classify_tokens(title: &[&str], summary: &[&str], tags: &[String], default: Option<Category>) -> Classification {
    classify_tokens_with(title, summary, tags, default, Some(learned::model()))
}

fn classify_tokens_with(
    title: &[&str],
    summary: &[&str],
    tags: &[String],
    default: Option<Category>,
    model: Option<&learned::Model>,
) -> Classification {
    let gate = &rules().gate;
    classify_gated((title, &gate.starts(title)), (summary, &gate.starts(summary)), tags, default, model)
}

/// As [`classify_tokens_with`], with each token's [`Gate`] bits.
fn classify_gated(
    (title, title_starts): (&[&str], &[u8]),
    (summary, summary_starts): (&[&str], &[u8]),
    tags: &[String],
    default: Option<Category>,
    model: Option<&learned::Model>,
) -> Classification {
    let rules = rules();
    let mut tag_categories: Vec<Category> = Vec::new();
    let mut tag_terms: Vec<String> = Vec::new();
    for tag in tags {
        if let Some(category) = category_named(tag) {
            push_unique(&mut tag_categories, category);
            tag_terms.push(tag.clone());
            continue;
        }
        let norm = normalise(tag);
        let toks: Vec<&str> = tokens(&norm).collect();
        for (_, category) in rules.categories.find(&toks, &rules.gate.starts(&toks), CATEGORIES) {
            push_unique(&mut tag_categories, category);
            if !tag_terms.contains(tag) {
                tag_terms.push(tag.clone());
            }
        }
    }

    // Score rule matches: a term in the title counts twice.
    let mut scores: HashMap<Category, u32> = HashMap::new();
    // Each matched term with the category it is evidence for, in the order found.
    let mut rule_terms: Vec<(String, Category)> = Vec::new();
    let mut note = |text: &String, category: Category| {
        if !rule_terms.iter().any(|(t, c)| t == text && *c == category) {
            rule_terms.push((text.clone(), category));
        }
    };
    for (toks, starts, weight) in [(title, title_starts, 2), (summary, summary_starts, 1)] {
        for (term, category) in rules.categories.find(toks, starts, CATEGORIES) {
            *scores.entry(category).or_default() += weight;
            note(&term.text, category);
        }
    }
    // Combos: every group met somewhere in the title or summary, no exclusion.
    let mut met: HashMap<u32, (u64, bool, Vec<String>)> = HashMap::new();
    for (toks, starts) in [(title, title_starts), (summary, summary_starts)] {
        for (term, (combo, group)) in rules.combo_terms.find(toks, starts, COMBOS) {
            let entry = met.entry(combo).or_default();
            if group == NONE_GROUP {
                entry.1 = true;
            } else {
                entry.0 |= 1 << group;
                if !entry.2.contains(&term.text) {
                    entry.2.push(term.text.clone());
                }
            }
        }
    }
    let mut fired: Vec<u32> = met.keys().copied().collect();
    fired.sort();
    for combo in fired {
        let (groups, excluded, terms) = &met[&combo];
        let (category, wanted) = rules.combos[combo as usize];
        if !excluded && groups.count_ones() == u32::from(wanted) {
            *scores.entry(category).or_default() += 2;
            for t in terms {
                note(t, category);
            }
        }
    }
    let mut excluded: Vec<Category> = Vec::new();
    let mut anchors: Vec<Category> = Vec::new();
    for (toks, starts) in [(title, title_starts), (summary, summary_starts)] {
        for (_, category) in rules.exclusions.find(toks, starts, EXCLUSIONS) {
            scores.remove(&category);
            push_unique(&mut excluded, category);
        }
        for (_, category) in rules.anchors.find(toks, starts, ANCHORS) {
            push_unique(&mut anchors, category);
        }
    }
    // The learned model decides route and regulatory changes (BENCHMARKS.md, "Classification"):
    // the rules' terms explain its decision when they match, its own evidence when they do not.
    if let Some(model) = model {
        let verdict = model.judge(title, summary);
        // What the rules alone say, read before the model adds anything.
        let found: Vec<Category> = scores.keys().copied().collect();
        let said = learned::CATEGORIES.map(|c| rules_said(c, &found, &excluded, &anchors, &rules.anchored));
        let reading = learned::Reading::of(title, summary);
        for (category, said) in learned::CATEGORIES.into_iter().zip(said) {
            if !verdict.applies(category, reading, said) {
                scores.remove(&category);
            } else if let std::collections::hash_map::Entry::Vacant(entry) = scores.entry(category) {
                entry.insert(2);
                for t in &model.evidence(&verdict, category) {
                    note(t, category);
                }
            }
        }
    }
    let mut rule_categories: Vec<(Category, u32)> = scores.into_iter().collect();
    rule_categories.sort_by(|(ca, sa), (cb, sb)| sb.cmp(sa).then(ca.cmp(cb)));

    let mut categories = tag_categories.clone();
    for (category, _) in &rule_categories {
        push_unique(&mut categories, *category);
    }
    let (source, mut terms) = if !tag_categories.is_empty() {
        (ClassificationSource::SourceTag, tag_terms)
    } else if !rule_categories.is_empty() {
        (ClassificationSource::Rule, Vec::new())
    } else if let Some(default) = default {
        categories.push(default);
        (ClassificationSource::FeedDefault, Vec::new())
    } else {
        categories.push(Category::Other);
        (ClassificationSource::Rule, Vec::new())
    };
    // Only the terms of categories the item has: an excluded category's words are not reported.
    for (text, category) in rule_terms {
        if scores_kept(&rule_categories, category) && !terms.contains(&text) {
            terms.push(text);
        }
    }
    if let Some(default) = default {
        push_unique(&mut categories, default);
    }
    Classification { category: categories[0], categories, source, terms }
}

fn scores_kept(rule_categories: &[(Category, u32)], category: Category) -> bool {
    rule_categories.iter().any(|(c, _)| *c == category)
}

/// The named route an entry concerns, if the route rules recognise one.
pub fn route(title: &str, summary: &str) -> Option<String> {
    let norm = normalise(&format!("{title}\n{summary}"));
    let toks: Vec<&str> = tokens(&norm).collect();
    route_tokens(&toks)
}

/// As [`route`], over normalised tokens.
pub fn route_tokens(toks: &[&str]) -> Option<String> {
    route_of(toks, &rules().gate.starts(toks))
}

fn route_of(toks: &[&str], starts: &[u8]) -> Option<String> {
    let rules = rules();
    let found = rules.routes.find(toks, starts, ROUTES);
    found.iter().map(|(_, i)| *i).min().map(|i| rules.route_names[i].clone())
}

/// [`classify_tokens`] and [`route_tokens`] of the title and summary together, looking each token
/// up once for both.
pub fn classify_and_route(
    title: &[&str],
    summary: &[&str],
    tags: &[String],
    default: Option<Category>,
) -> (Classification, Option<String>) {
    let gate = &rules().gate;
    let title_starts = gate.starts(title);
    let summary_starts = gate.starts(summary);
    let classification =
        classify_gated((title, &title_starts), (summary, &summary_starts), tags, default, Some(learned::model()));
    // A route's name may run from the title into the summary, as in the text read whole.
    let all: Vec<&str> = title.iter().chain(summary).copied().collect();
    let starts: Vec<u8> = title_starts.into_iter().chain(summary_starts).collect();
    (classification, route_of(&all, &starts))
}

/// A tag that names one of our categories directly ("ROUTE_CHANGE", "Route change").
fn category_named(tag: &str) -> Option<Category> {
    let wanted = normalise(tag);
    Category::ALL.iter().copied().find(|c| normalise(c.as_str()) == wanted && *c != Category::Other)
}

fn push_unique(list: &mut Vec<Category>, category: Category) {
    if !list.contains(&category) {
        list.push(category);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify_text(title: &str, summary: &str) -> Classification {
        classify(Input { title, summary, tags: &[], default: None })
    }

    #[test]
    fn terms_are_reported_in_the_rules_order_whatever_their_length() {
        // "repatriat*" (English) comes before the shorter "repatria*" (Spanish) in the rules; the
        // terms are part of the content hash, so their order must not depend on the index.
        let c = classify_text("", "Repatriation flights resumed");
        assert_eq!(c.terms, ["repatriat*", "repatria*"]);
    }

    #[test]
    fn prefix_trie_finds_every_prefix_a_token_starts_with() {
        let mut trie = PrefixTrie::default();
        let starting = |trie: &PrefixTrie, token: &str| {
            let mut found = vec![99];
            trie.starting(token, &mut found);
            found[1..].to_vec()
        };
        assert_eq!(starting(&trie, "anything"), Vec::<usize>::new());
        for (i, prefix) in ["mig", "migra", "x", "مهاجر"].iter().enumerate() {
            trie.insert(prefix, i);
        }
        assert_eq!(starting(&trie, "migrants"), [0, 1]);
        assert_eq!(starting(&trie, "mig"), [0]);
        assert_eq!(starting(&trie, "mi"), Vec::<usize>::new());
        assert_eq!(starting(&trie, "amigra"), Vec::<usize>::new());
        assert_eq!(starting(&trie, "مهاجرين"), [3]);
        assert_eq!(starting(&trie, ""), Vec::<usize>::new());
    }

    #[test]
    fn rules_files_compile() {
        let r = rules();
        assert!(r.categories.terms.len() > 200);
        assert!(!r.route_names.is_empty());
    }

    #[test]
    fn a_border_closure_is_a_route_change_found_by_the_rules() {
        let c = classify_text("Border closure pushes migrants to a new route", "");
        assert_eq!(c.category, Category::RouteChange);
        assert_eq!(c.source, ClassificationSource::Rule);
        assert!(!c.terms.is_empty());
    }

    #[test]
    fn the_entrys_own_tag_wins_over_rules() {
        let tags = vec!["Regulatory change".to_string()];
        let c = classify(Input { title: "Border closure", summary: "", tags: &tags, default: None });
        assert_eq!(c.category, Category::RegulatoryChange);
        assert_eq!(c.source, ClassificationSource::SourceTag);
        assert!(c.categories.contains(&Category::RouteChange));
    }

    #[test]
    fn the_feed_default_applies_when_nothing_matches() {
        let c =
            classify(Input { title: "Quarterly newsletter", summary: "", tags: &[], default: Some(Category::Funding) });
        assert_eq!(c.category, Category::Funding);
        assert_eq!(c.source, ClassificationSource::FeedDefault);
        let c = classify_text("Quarterly newsletter", "");
        assert_eq!(c.category, Category::Other);
    }

    #[test]
    fn prefix_terms_cover_inflections() {
        let term = Term::compile("депортац*").unwrap();
        assert!(term.matches_at(&["депортации"], 0));
        assert!(!term.matches_at(&["депо"], 0));
    }

    #[test]
    fn every_word_of_a_term_may_be_a_prefix() {
        let term = Term::compile("центральн* средиземноморск*").unwrap();
        assert!(term.matches_at(&["центрального", "средиземноморского"], 0));
    }

    #[test]
    fn arabic_joined_conjunctions_do_not_hide_a_term() {
        let term = Term::compile("مياه الشرب").unwrap();
        assert!(term.matches_at(&["ومياه", "الشرب"], 0));
    }

    #[test]
    fn routes_are_named() {
        assert_eq!(
            route("Arrivals rise on the Central Mediterranean route", "").as_deref(),
            Some("Central Mediterranean")
        );
        assert_eq!(route("Crecen los cruces por la selva del Darién", "").as_deref(), Some("Darién"));
        assert_eq!(route("Local blood drive", ""), None);
    }

    #[test]
    fn combinations_need_every_group_and_exclusions_cancel_them() {
        // The rules alone: the learned model is tested below.
        let classify = |input: Input<'_>| classify_with(input, None);
        let shifted = classify(Input {
            title: "Crossings shift to the Arizona desert",
            summary: "Fewer migrants cross in Texas.",
            ..Input::default()
        });
        assert!(shifted.categories.contains(&Category::RouteChange), "{shifted:?}");
        let passed = classify(Input { title: "Parliament passes the refugee bill", ..Input::default() });
        assert!(passed.categories.contains(&Category::RegulatoryChange), "{passed:?}");
        let traffic = classify(Input { title: "Parliament passes a new traffic law", ..Input::default() });
        assert!(!traffic.categories.contains(&Category::RegulatoryChange), "{traffic:?}");
        let considering =
            classify(Input { title: "Minister says the cabinet will consider tighter visa rules", ..Input::default() });
        assert!(!considering.categories.contains(&Category::RegulatoryChange), "{considering:?}");
        assert!(
            !considering.terms.iter().any(|t| t.contains("visa")),
            "no words of a cancelled category: {considering:?}"
        );
    }

    #[test]
    fn a_summary_that_only_repeats_the_title_is_read_as_a_title_alone() {
        use learned::Reading;
        assert_eq!(Reading::of(&["border", "closed"], &[]), Reading::TitleOnly);
        assert_eq!(Reading::of(&["border", "closed"], &["border", "closed"]), Reading::TitleOnly);
        assert_eq!(Reading::of(&["border", "closed"], &["since", "monday"]), Reading::Written);
        // The model gives this title about 0.53 for a route change: enough for a title alone where
        // the rules agree (0.40), not for a title with a summary (0.60). Repeated, it is still a
        // title alone.
        let title = "Border closure shifts the route to Italy";
        assert!(classify_text(title, "").categories.contains(&Category::RouteChange));
        assert!(classify_text(title, title).categories.contains(&Category::RouteChange));
        let confirmed = classify_text(title, "Arrivals from Libya rose on the Central Mediterranean route.");
        assert!(!confirmed.categories.contains(&Category::RouteChange), "{confirmed:?}");
    }

    #[test]
    fn the_learned_model_adds_route_changes_and_confirms_regulatory_ones() {
        let both = |title: &str, summary: &str| classify(Input { title, summary, ..Input::default() });
        let rules = |title: &str, summary: &str| classify_with(Input { title, summary, ..Input::default() }, None);

        // A route change in words the rules do not know: the model's evidence is reported.
        let (title, summary) = ("Fewer people land in Lampedusa, more in Crete", "Coast guard figures for October.");
        assert!(!rules(title, summary).categories.contains(&Category::RouteChange));
        let shifted = both(title, summary);
        assert_eq!(shifted.categories, [Category::RouteChange], "{shifted:?}");
        // The words that weighed most, each one of the text's own.
        let words = normalise(&format!("{title} {summary}"));
        assert!(!shifted.terms.is_empty(), "{shifted:?}");
        for term in &shifted.terms {
            let stem = term.trim_end_matches('*');
            assert!(tokens(&words).any(|w| w.starts_with(stem)), "{term} is not in the text: {shifted:?}");
        }

        // A debate is not a change: the rules take it for one, the model does not confirm it.
        let (title, summary) = ("Lawmakers debate a bill to tighten asylum rules", "The vote is expected next month.");
        assert!(rules(title, summary).categories.contains(&Category::RegulatoryChange));
        let debate = both(title, summary);
        assert!(!debate.categories.contains(&Category::RegulatoryChange), "{debate:?}");
        assert!(debate.terms.is_empty(), "no words of a category the item does not keep: {debate:?}");

        // Both agree on a law in force.
        let in_force =
            both("Asylum law amendments enter into force", "From 1 March, applications must be lodged within 30 days.");
        assert_eq!(in_force.category, Category::RegulatoryChange, "{in_force:?}");
    }
}
