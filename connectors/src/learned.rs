//! A small learned model that decides the two categories people subscribe to, route and
//! regulatory changes (what the keyword rules say, and whether a summary says more than the title,
//! set its thresholds): logistic regression over the words of a title and summary, trained on the
//! labelled sets in `tests/classification/` and kept as data in `rules/learned.tsv`.
//!
//! Features are the normalised words (an Arabic word also without its joined و ب ل ف) and their
//! first five letters written `prefix*` (so Russian case forms and French or Spanish inflections
//! share one), weighted by TF-IDF (`1 + ln tf` times `ln((1 + n) / (1 + df)) + 1`, normalised to
//! unit length). Each category has its own weights, bias and thresholds (`THRESHOLDS`).
//!
//! `TRAIN_CLASSIFIER=1 cargo test -p connectors --test classification` retrains it and writes the
//! file; without the variable, that test checks the committed file is what training gives.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use crate::model::Category;
use crate::text::TokenMap;

const MODEL: &str = include_str!("../rules/learned.tsv");

/// The categories the model decides, in the order of its weight columns.
pub const CATEGORIES: [Category; 2] = [Category::RouteChange, Category::RegulatoryChange];

/// How many letters a prefix feature keeps.
const PREFIX_CHARS: usize = 5;

/// The probability from which a category applies, per reading (a title with its summary, a title
/// alone) and category: when the keyword rules find it too, when they find nothing, when they find
/// talk of it rather than the thing (an exclusion term: a proposal, a call, a vote put off), and
/// when they find another category instead; and at least `unanchored` when the text holds none of
/// the category's anchor terms (for a regulatory change: nothing about migration). Chosen by
/// leaving each labelled set out of training in turn and taking the thresholds whose worst set
/// scores best against the target (BENCHMARKS.md, "Classification"; `tests/classification.rs`).
pub const THRESHOLDS: [[Thresholds; 2]; 2] = [
    [
        Thresholds { with_rules: 0.6, alone: 0.65, excluded: 0.65, elsewhere: 0.65, unanchored: 0.65 },
        Thresholds { with_rules: 0.5, alone: 0.5, excluded: 0.55, elsewhere: 0.7, unanchored: 0.9 },
    ],
    [
        Thresholds { with_rules: 0.4, alone: 0.65, excluded: 0.65, elsewhere: 0.65, unanchored: 0.65 },
        Thresholds { with_rules: 0.3, alone: 0.4, excluded: 0.4, elsewhere: 0.55, unanchored: 0.5 },
    ],
];

/// How much a text gives to go on, which decides the thresholds: a headline alone says less than
/// a headline with its summary, so the two are held to the target separately. Only a summary
/// that is empty or the title's very words counts as none: a summary that adds a source's name
/// is read as written. A title with its summary can therefore fall below the bar the title alone
/// would clear (BENCHMARKS.md, "Classification").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// A title with a summary that says more than the title.
    Written = 0,
    /// A title alone: no summary, or one that only repeats the title.
    TitleOnly = 1,
}

impl Reading {
    /// The reading of a title and summary, as normalised tokens.
    pub fn of(title: &[&str], summary: &[&str]) -> Reading {
        if summary.is_empty() || summary == title {
            Reading::TitleOnly
        } else {
            Reading::Written
        }
    }
}

/// A category's thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// When the rules find the category too.
    pub with_rules: f64,
    /// When they find nothing of it.
    pub alone: f64,
    /// When an exclusion term says the text only talks of it.
    pub excluded: f64,
    /// When the rules find another category instead (a border reopened, a deportation carried
    /// out, a survey published) and nothing of this one.
    pub elsewhere: f64,
    /// The least, whatever the rules say, when the text holds none of its anchor terms.
    pub unanchored: f64,
}

impl Thresholds {
    /// The threshold for what the rules say.
    pub fn for_rules(&self, (rules, anchored): (Rules, bool)) -> f64 {
        let said = match rules {
            Rules::Found => self.with_rules,
            Rules::Silent => self.alone,
            Rules::Excluded => self.excluded,
            Rules::Elsewhere => self.elsewhere,
        };
        if anchored {
            said
        } else {
            said.max(self.unanchored)
        }
    }
}

/// What the keyword rules say of a category in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// Its terms match, and no exclusion does.
    Found,
    /// Nothing matches: neither its terms, nor its exclusions, nor another category's terms.
    Silent,
    /// An exclusion term matches: the text talks of the category rather than reporting one.
    Excluded,
    /// Neither matches, but the rules find another category.
    Elsewhere,
}

/// The smallest inverse document frequency of a feature reported as evidence.
const EVIDENCE_MIN_IDF: f64 = 4.0;

/// The inverse of the regularisation strength: larger fits the training set more closely.
pub const DEFAULT_C: f64 = 30.0;

/// A token's features: the word itself and, when it is longer, its prefix; for an Arabic word
/// with a joined conjunction or preposition, the same again without it.
fn word_features<'a>(token: &'a str, into: &mut Vec<Feature<'a>>) {
    let mut push = |word: &'a str| {
        into.push(Feature::Word(word));
        let prefix = root(word);
        if prefix.len() < word.len() {
            into.push(Feature::Prefix(prefix));
        }
    };
    push(token);
    if let Some(bare) = crate::geo::strip_arabic_clitic(token) {
        push(bare);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Feature<'a> {
    Word(&'a str),
    Prefix(&'a str),
}

impl Feature<'_> {
    /// As written in the model file and reported among an item's terms.
    fn text(&self) -> String {
        match self {
            Feature::Word(w) => (*w).to_string(),
            Feature::Prefix(p) => format!("{p}*"),
        }
    }
}

/// A text's unit-length TF-IDF vector from the indices of its features (in any order, repeated
/// as often as they occur): `(1 + ln tf) × idf`, divided by the vector's length. Sorted by index.
fn unit_tfidf(ids: &mut [u32], idf: impl Fn(u32) -> f64) -> Vec<(u32, f64)> {
    ids.sort_unstable();
    let mut v: Vec<(u32, f64)> = Vec::with_capacity(ids.len());
    for run in ids.chunk_by(|a, b| a == b) {
        v.push((run[0], (1.0 + (run.len() as f64).ln()) * idf(run[0])));
    }
    let norm = v.iter().map(|(_, x)| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|(_, x)| *x /= norm);
    }
    v
}

/// A feature's inverse document frequency and its weight for each category.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Weights {
    idf: f64,
    w: [f64; 2],
}

/// The trained model: its features (as written in the file, with their weights), indexed by word
/// and by prefix, and a bias per category.
#[derive(Debug, Clone)]
pub struct Model {
    features: Vec<(String, Weights)>,
    words: TokenMap<u32>,
    prefixes: TokenMap<u32>,
    bias: [f64; 2],
}

/// What the model says of one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The probability of each of [`CATEGORIES`].
    pub probability: [f64; 2],
    /// The text's unit-length TF-IDF vector over the model's features.
    vector: Vec<(u32, f64)>,
}

impl Verdict {
    /// Whether `category` applies, given the reading, what the keyword rules say of it and
    /// whether the text holds one of its anchor terms.
    pub fn applies(&self, category: Category, reading: Reading, rules: (Rules, bool)) -> bool {
        CATEGORIES
            .iter()
            .position(|c| *c == category)
            .is_some_and(|i| self.probability[i] >= THRESHOLDS[reading as usize][i].for_rules(rules))
    }
}

/// The committed model, parsed once.
pub fn model() -> &'static Model {
    static MODEL_PARSED: OnceLock<Model> = OnceLock::new();
    MODEL_PARSED.get_or_init(|| Model::parse(MODEL).unwrap_or_else(|e| panic!("rules/learned.tsv: {e}")))
}

impl Model {
    fn from_features(features: Vec<(String, Weights)>, bias: [f64; 2]) -> Model {
        let mut words = TokenMap::default();
        let mut prefixes = TokenMap::default();
        for (i, (text, _)) in features.iter().enumerate() {
            match text.strip_suffix('*') {
                Some(prefix) => prefixes.insert(prefix.to_string(), i as u32),
                None => words.insert(text.clone(), i as u32),
            };
        }
        Model { features, words, prefixes, bias }
    }

    /// The text's unit-length TF-IDF vector over the features the model knows, by feature index.
    fn vector(&self, tokens: &[&str]) -> Vec<(u32, f64)> {
        let mut found: Vec<Feature<'_>> = Vec::with_capacity(tokens.len() * 2);
        let mut ids: Vec<u32> = Vec::with_capacity(tokens.len() * 2);
        for t in tokens {
            found.clear();
            word_features(t, &mut found);
            ids.extend(found.iter().filter_map(|f| match f {
                Feature::Word(w) => self.words.get(*w),
                Feature::Prefix(p) => self.prefixes.get(*p),
            }));
        }
        unit_tfidf(&mut ids, |i| self.features[i as usize].1.idf)
    }

    /// Scores a title and summary, normalised and split into tokens.
    pub fn judge(&self, title: &[&str], summary: &[&str]) -> Verdict {
        let tokens: Vec<&str> = title.iter().chain(summary).copied().collect();
        let vector = self.vector(&tokens);
        let probability = [0, 1].map(|k| {
            sigmoid(self.bias[k] + vector.iter().map(|(i, x)| x * self.features[*i as usize].1.w[k]).sum::<f64>())
        });
        Verdict { probability, vector }
    }

    /// The (up to three) features of the text that weighed most for `category`: not the common
    /// words (in more than about one text in 20, idf under 4) however they lean, and a word once,
    /// not also as its prefix.
    pub fn evidence(&self, verdict: &Verdict, category: Category) -> Vec<String> {
        let Some(k) = CATEGORIES.iter().position(|c| *c == category) else { return Vec::new() };
        let mut parts: Vec<(f64, &str)> = verdict
            .vector
            .iter()
            .map(|(i, x)| (x, &self.features[*i as usize]))
            .filter(|(_, (_, w))| w.idf >= EVIDENCE_MIN_IDF)
            .map(|(x, (text, w))| (x * w.w[k], text.as_str()))
            .filter(|(c, _)| *c > 0.0)
            .collect();
        // Heaviest first; of equals, a word before a prefix.
        parts.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1.ends_with('*'), a.1).cmp(&(b.1.ends_with('*'), b.1))));
        let mut roots: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for (_, text) in parts {
            let root = root(text.trim_end_matches('*'));
            if !roots.contains(&root) && out.len() < 3 {
                roots.push(root);
                out.push(text.to_string());
            }
        }
        out
    }

    /// Reads the model file: a `bias` line, then one line per feature (`feature idf w_route
    /// w_regulatory`, tab-separated; a prefix feature ends in `*`).
    pub fn parse(text: &str) -> Result<Model, String> {
        let mut features = Vec::new();
        let mut bias = [0.0; 2];
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty() && !l.starts_with('#')) {
            let fields: Vec<&str> = line.split('\t').collect();
            let number = |i: usize| -> Result<f64, String> {
                fields
                    .get(i)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("line {}: field {} is not a number", n + 1, i + 1))
            };
            if fields[0] == "bias" {
                bias = [number(1)?, number(2)?];
            } else {
                features.push((fields[0].to_string(), Weights { idf: number(1)?, w: [number(2)?, number(3)?] }));
            }
        }
        Ok(Model::from_features(features, bias))
    }

    /// Writes the model file, features in sorted order.
    pub fn to_tsv(&self) -> String {
        let mut rows: Vec<&(String, Weights)> = self.features.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = String::from(
            "# Learned weights for ROUTE_CHANGE and REGULATORY_CHANGE (connectors/src/learned.rs).\n\
             # Written by `TRAIN_CLASSIFIER=1 cargo test -p connectors --test classification`; not by hand.\n\
             # feature\tidf\troute\tregulatory\n",
        );
        let _ = writeln!(out, "bias\t{:.6}\t{:.6}", self.bias[0], self.bias[1]);
        for (feature, w) in rows {
            let _ = writeln!(out, "{feature}\t{:.6}\t{:.6}\t{:.6}", w.idf, w.w[0], w.w[1]);
        }
        out
    }

    /// The largest difference between two models' numbers (a feature only one of them has counts
    /// as a difference of infinity).
    pub fn distance(&self, other: &Model) -> f64 {
        if self.features.len() != other.features.len() {
            return f64::INFINITY;
        }
        let theirs: HashMap<&str, &Weights> = other.features.iter().map(|(t, w)| (t.as_str(), w)).collect();
        let mut d = (0..2).map(|k| (self.bias[k] - other.bias[k]).abs()).fold(0.0, f64::max);
        for (text, a) in &self.features {
            let Some(b) = theirs.get(text.as_str()) else { return f64::INFINITY };
            d = d.max((a.idf - b.idf).abs()).max((a.w[0] - b.w[0]).abs()).max((a.w[1] - b.w[1]).abs());
        }
        d
    }
}

/// A word's first letters, shared by the word and its prefix feature.
fn root(word: &str) -> &str {
    word.char_indices().nth(PREFIX_CHARS).map_or(word, |(end, _)| &word[..end])
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// One labelled text for training: its normalised tokens and whether each category applies.
pub struct Labelled {
    pub tokens: Vec<String>,
    pub gold: [bool; 2],
}

/// Trains the model: TF-IDF over the training texts, then for each category an L2-regularised
/// logistic regression with classes weighted to balance (`c` as in scikit-learn's `C`; the bias
/// is not regularised), by accelerated gradient descent. Deterministic: the same texts give the
/// same numbers.
pub fn train(examples: &[Labelled], c: f64) -> Model {
    let n = examples.len() as f64;
    // Each text's features, as often as they occur.
    let docs: Vec<Vec<Feature<'_>>> = examples
        .iter()
        .map(|e| {
            let mut features = Vec::new();
            for t in &e.tokens {
                word_features(t, &mut features);
            }
            features
        })
        .collect();
    let mut df: HashMap<Feature<'_>, u32> = HashMap::new();
    for doc in &docs {
        let mut distinct = doc.clone();
        distinct.sort_unstable();
        distinct.dedup();
        for f in distinct {
            *df.entry(f).or_default() += 1;
        }
    }
    // Sorted, so a feature's index orders as the feature does.
    let mut vocabulary: Vec<Feature<'_>> = df.keys().copied().collect();
    vocabulary.sort_unstable();
    let index: HashMap<Feature<'_>, u32> = vocabulary.iter().zip(0..).map(|(f, i)| (*f, i)).collect();
    let idf: Vec<f64> = vocabulary.iter().map(|f| ((1.0 + n) / (1.0 + f64::from(df[f]))).ln() + 1.0).collect();
    let rows: Vec<Vec<(u32, f64)>> = docs
        .iter()
        .map(|doc| unit_tfidf(&mut doc.iter().map(|f| index[f]).collect::<Vec<u32>>(), |i| idf[i as usize]))
        .collect();

    let mut weights = vec![[0.0f64; 2]; vocabulary.len()];
    let mut bias = [0.0f64; 2];
    for k in 0..2 {
        let y: Vec<f64> = examples.iter().map(|e| if e.gold[k] { 1.0 } else { 0.0 }).collect();
        let positives = y.iter().sum::<f64>();
        let class_weight = |yi: f64| if yi > 0.5 { n / (2.0 * positives) } else { n / (2.0 * (n - positives)) };
        let (w, b) = logistic_regression(&rows, &y, &class_weight, vocabulary.len(), c);
        for (i, wi) in w.into_iter().enumerate() {
            weights[i][k] = wi;
        }
        bias[k] = b;
    }

    // The file keeps six decimals: the model in memory is the one the file gives back.
    let round = |x: f64| (x * 1e6).round() / 1e6;
    let features = vocabulary
        .iter()
        .enumerate()
        .map(|(i, f)| (f.text(), Weights { idf: round(idf[i]), w: [round(weights[i][0]), round(weights[i][1])] }))
        .collect();
    Model::from_features(features, bias.map(round))
}

/// Minimises `Σ cᵢ·logloss(yᵢ, σ(w·xᵢ + b)) + ‖w‖² / 2C` with Nesterov's accelerated gradient,
/// restarted whenever the objective rises.
fn logistic_regression(
    rows: &[Vec<(u32, f64)>],
    y: &[f64],
    class_weight: &dyn Fn(f64) -> f64,
    dims: usize,
    c: f64,
) -> (Vec<f64>, f64) {
    // Each row has unit length, so the loss's gradient is Lipschitz with at most
    // Σcᵢ·(‖xᵢ‖² + 1)/4 (the 1 for the bias) plus 1/C for the penalty.
    let lipschitz = y.iter().map(|yi| class_weight(*yi)).sum::<f64>() * 2.0 / 4.0 + 1.0 / c;
    let step = 1.0 / lipschitz;
    let objective_and_gradient = |w: &[f64], b: f64, grad: &mut [f64]| -> (f64, f64) {
        grad.iter_mut().zip(w).for_each(|(g, wi)| *g = wi / c);
        let mut gb = 0.0;
        let mut loss = w.iter().map(|wi| wi * wi).sum::<f64>() / (2.0 * c);
        for (row, yi) in rows.iter().zip(y) {
            let z = b + row.iter().map(|(j, x)| w[*j as usize] * x).sum::<f64>();
            let p = sigmoid(z);
            let cw = class_weight(*yi);
            // log(1 + e^-z) for y = 1, log(1 + e^z) for y = 0, computed stably.
            let margin = if *yi > 0.5 { z } else { -z };
            loss += cw * (if margin > 0.0 { (-margin).exp().ln_1p() } else { -margin + margin.exp().ln_1p() });
            let r = cw * (p - yi);
            gb += r;
            for (j, x) in row {
                grad[*j as usize] += r * x;
            }
        }
        (loss, gb)
    };
    let mut w = vec![0.0; dims];
    let mut b = 0.0;
    let (mut w_prev, mut b_prev) = (w.clone(), b);
    let mut grad = vec![0.0; dims];
    let mut t = 1.0f64;
    let mut last = f64::INFINITY;
    for _ in 0..4000 {
        let t_next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
        let momentum = (t - 1.0) / t_next;
        // The look-ahead point.
        let look: Vec<f64> = w.iter().zip(&w_prev).map(|(a, p)| a + momentum * (a - p)).collect();
        let look_b = b + momentum * (b - b_prev);
        let (loss, gb) = objective_and_gradient(&look, look_b, &mut grad);
        w_prev.clone_from(&w);
        b_prev = b;
        for ((wi, li), gi) in w.iter_mut().zip(&look).zip(&grad) {
            *wi = li - step * gi;
        }
        b = look_b - step * gb;
        t = if loss > last { 1.0 } else { t_next };
        last = loss;
    }
    (w, b)
}
