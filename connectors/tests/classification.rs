//! The classifier against labelled headlines and summaries in English, French, Spanish, Arabic
//! and Russian, with hard negatives (places that are also words, blood drives, sports, "route" and
//! "law" in other senses, calls for changes that have not happened, laws that are not about
//! migration). Sixteen sets in `tests/classification/`, each written blind by a helper session
//! that saw none of the others, nor the rules or the model, and each measured once as a held-out
//! set before joining the tuning sets (BENCHMARKS.md tells the order):
//!
//! - `eval.jsonl` (296 items, splits `tune` and `test`), `holdout.jsonl` (210, `holdout1`),
//!   `holdout2.jsonl` (245), `holdout3.jsonl` to `holdout13.jsonl` (250 each): the tuning sets,
//!   on which the learned model is trained (`rules/learned.tsv`, checked here to be what training
//!   gives) and its thresholds chosen by leaving each set out;
//! - `holdout14.jsonl` and `holdout15.jsonl` (250 each): the held-out sets, never trained or tuned
//!   on, never looked at item by item.
//!
//! ```sh
//! cargo test -p connectors --test classification -- --nocapture            # scores
//! cargo test -p connectors --test classification mistakes -- --ignored --nocapture
//! TRAIN_CLASSIFIER=1 cargo test -p connectors --test classification   # retrain, rewrite the file
//! ```
//!
//! The second lists the tuning sets' mistakes, each set judged by a model trained without it.
//! BENCHMARKS.md reports the held-out scores.

use std::collections::BTreeMap;

use connectors::classify::{classify, classify_with, rules_say, Input};
use connectors::learned::{self, Labelled, Model, Reading, Thresholds};
use connectors::text::{normalise, tokens};
use connectors::Category;
use serde_json::Value;

struct Example {
    id: String,
    lang: String,
    split: String,
    gold: Vec<Category>,
    title: String,
    summary: String,
}

/// The tuning sets (splits `tune`, `test`, `holdout1` to `holdout13`) and the held-out sets
/// (`holdout14`, `holdout15`).
fn examples() -> Vec<Example> {
    let mut all = parse(include_str!("classification/eval.jsonl"), None);
    all.extend(parse(include_str!("classification/holdout.jsonl"), Some("holdout1")));
    all.extend(parse(include_str!("classification/holdout2.jsonl"), Some("holdout2")));
    all.extend(parse(include_str!("classification/holdout3.jsonl"), Some("holdout3")));
    all.extend(parse(include_str!("classification/holdout4.jsonl"), Some("holdout4")));
    all.extend(parse(include_str!("classification/holdout5.jsonl"), Some("holdout5")));
    all.extend(parse(include_str!("classification/holdout6.jsonl"), Some("holdout6")));
    all.extend(parse(include_str!("classification/holdout7.jsonl"), Some("holdout7")));
    all.extend(parse(include_str!("classification/holdout8.jsonl"), Some("holdout8")));
    all.extend(parse(include_str!("classification/holdout9.jsonl"), Some("holdout9")));
    all.extend(parse(include_str!("classification/holdout10.jsonl"), Some("holdout10")));
    all.extend(parse(include_str!("classification/holdout11.jsonl"), Some("holdout11")));
    all.extend(parse(include_str!("classification/holdout12.jsonl"), Some("holdout12")));
    all.extend(parse(include_str!("classification/holdout13.jsonl"), Some("holdout13")));
    all.extend(parse(include_str!("classification/holdout14.jsonl"), Some("holdout14")));
    all.extend(parse(include_str!("classification/holdout15.jsonl"), Some("holdout15")));
    all
}

/// Every split: the tuning sets', then the held-out sets'.
const SPLITS: [&str; 17] = [
    "tune",
    "test",
    "holdout1",
    "holdout2",
    "holdout3",
    "holdout4",
    "holdout5",
    "holdout6",
    "holdout7",
    "holdout8",
    "holdout9",
    "holdout10",
    "holdout11",
    "holdout12",
    "holdout13",
    "holdout14",
    "holdout15",
];

/// The held-out sets: never trained or tuned on, never looked at item by item.
const HELD_OUT: [&str; 2] = ["holdout14", "holdout15"];

fn parse(text: &str, split: Option<&str>) -> Vec<Example> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(n, line)| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
            let field = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("line {}: no `{k}`", n + 1)).to_string();
            let gold = v["categories"]
                .as_array()
                .unwrap_or_else(|| panic!("line {}: no categories", n + 1))
                .iter()
                .map(|c| c.as_str().unwrap().parse::<Category>().unwrap_or_else(|e| panic!("line {}: {e}", n + 1)))
                .collect();
            Example {
                id: field("id"),
                lang: field("lang"),
                split: split.map(str::to_string).unwrap_or_else(|| field("split")),
                gold,
                title: field("title"),
                summary: v["summary"].as_str().unwrap_or("").to_string(),
            }
        })
        .collect()
}

fn predict(e: &Example) -> Vec<Category> {
    classify(Input { title: &e.title, summary: &e.summary, tags: &[], default: None }).categories
}

#[derive(Default, Clone, Copy)]
struct Score {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Score {
    fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }
    fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }
    /// Precision, recall and the counts as table cells.
    fn cells(&self) -> String {
        format!("{:.2} | {:.2} | {} | {} | {}", self.precision(), self.recall(), self.tp, self.fp, self.fn_)
    }
    fn merge(&mut self, other: Score) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
    }
    fn add(&mut self, gold: bool, predicted: bool) {
        match (gold, predicted) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => {}
        }
    }
}

const CATEGORIES: [Category; 10] = [
    Category::RouteChange,
    Category::RegulatoryChange,
    Category::Return,
    Category::Funding,
    Category::CivilSociety,
    Category::Study,
    Category::Programme,
    Category::Needs,
    Category::Meeting,
    Category::Other,
];

/// Scores per category, and per language for route and regulatory changes, on one split.
fn score(examples: &[Example], split: &str) -> (BTreeMap<Category, Score>, BTreeMap<(Category, String), Score>) {
    let mut by_category: BTreeMap<Category, Score> = BTreeMap::new();
    let mut by_language: BTreeMap<(Category, String), Score> = BTreeMap::new();
    for e in examples.iter().filter(|e| e.split == split) {
        let predicted = predict(e);
        for c in CATEGORIES {
            let (g, p) = (e.gold.contains(&c), predicted.contains(&c));
            by_category.entry(c).or_default().add(g, p);
            if matches!(c, Category::RouteChange | Category::RegulatoryChange) {
                by_language.entry((c, e.lang.clone())).or_default().add(g, p);
            }
        }
    }
    (by_category, by_language)
}

fn report(examples: &[Example], split: &str) -> String {
    let (by_category, by_language) = score(examples, split);
    let n = examples.iter().filter(|e| e.split == split).count();
    let mut out = format!(
        "{split} half, {n} items\n| category | precision | recall | tp | fp | fn |\n|---|---|---|---|---|---|\n"
    );
    for (c, s) in &by_category {
        out.push_str(&format!("| {} | {} |\n", c.as_str(), s.cells()));
    }
    out.push_str("\n| category | language | precision | recall | tp | fp | fn |\n|---|---|---|---|---|---|---|\n");
    for ((c, lang), s) in &by_language {
        out.push_str(&format!("| {} | {lang} | {} |\n", c.as_str(), s.cells()));
    }
    out
}

#[test]
fn the_evaluation_set_covers_five_languages_and_the_hard_cases() {
    let examples = examples();
    assert!(examples.len() >= 200, "{} items", examples.len());
    let mut ids = std::collections::HashSet::new();
    for e in &examples {
        assert!(ids.insert(e.id.clone()), "id {} twice", e.id);
        assert!(SPLITS.contains(&e.split.as_str()), "{}: split {}", e.id, e.split);
    }
    // Every split is either tuned on or held out, never both and never neither: a new set left out
    // of both lists would be trained on without being scored as a tuning set.
    for split in SPLITS {
        let tuned = TUNING_SETS.iter().filter(|(_, splits, _)| splits.contains(&split)).count();
        assert_eq!(
            tuned + usize::from(held_out(split)),
            1,
            "{split} is in TUNING_SETS {tuned} times, held out: {}",
            held_out(split)
        );
    }
    for lang in ["en", "fr", "es", "ar", "ru"] {
        assert!(examples.iter().filter(|e| e.lang == lang).count() >= 30, "too few in {lang}");
    }
    for category in [Category::RouteChange, Category::RegulatoryChange] {
        for split in SPLITS {
            let positives = examples.iter().filter(|e| e.split == split && e.gold.contains(&category)).count();
            assert!(positives >= 30, "{positives} {category} positives in the {split} half");
        }
    }
}

/// Floors under the scores measured once on each held-out set with the classifier as committed
/// before it was measured (BENCHMARKS.md, "Classification"), so a change that makes them worse
/// fails here. The issue's target is precision 0.9 and recall 0.8 for both; route changes reach
/// 0.939 / 0.920 on `holdout14` and 1.000 / 0.978 on `holdout15`, regulatory changes 0.936 / 0.880
/// and 0.976 / 0.870.
const FLOORS: [(&str, Category, f64, f64); 4] = [
    ("holdout14", Category::RouteChange, 0.93, 0.92),
    ("holdout14", Category::RegulatoryChange, 0.93, 0.88),
    ("holdout15", Category::RouteChange, 1.00, 0.97),
    ("holdout15", Category::RegulatoryChange, 0.97, 0.86),
];

#[test]
fn route_and_regulatory_changes_keep_their_held_out_scores() {
    let examples = examples();
    for split in SPLITS {
        println!("{}", report(&examples, split));
    }
    for split in HELD_OUT {
        parts_alone(&examples, split);
    }
    for (split, c, precision, recall) in FLOORS {
        let s = score(&examples, split).0[&c];
        assert!(
            s.precision() >= precision - 1e-9 && s.recall() >= recall - 1e-9,
            "{}: precision {:.3}, recall {:.3} on {split} (floors {precision}, {recall})",
            c.as_str(),
            s.precision(),
            s.recall()
        );
    }
}

/// Prints the two parts of the classifier's scores on their own on a held-out set, for comparison.
fn parts_alone(examples: &[Example], split: &str) {
    let mut rules_alone = [Score::default(); 2];
    let mut model_alone = [Score::default(); 2];
    for e in examples.iter().filter(|e| e.split == split) {
        let rules = classify_with(Input { title: &e.title, summary: &e.summary, tags: &[], default: None }, None);
        let (title, summary) = (normalise(&e.title), normalise(&e.summary));
        let (title, summary): (Vec<&str>, Vec<&str>) = (tokens(&title).collect(), tokens(&summary).collect());
        let verdict = learned::model().judge(&title, &summary);
        let reading = Reading::of(&title, &summary);
        for (k, c) in learned::CATEGORIES.iter().enumerate() {
            rules_alone[k].add(e.gold.contains(c), rules.categories.contains(c));
            model_alone[k].add(e.gold.contains(c), verdict.applies(*c, reading, (learned::Rules::Silent, true)));
        }
    }
    for (k, c) in learned::CATEGORIES.iter().enumerate() {
        let (r, m) = (rules_alone[k], model_alone[k]);
        println!(
            "{split}, {}: rules alone {:.2} / {:.2} ({}, {}, {}), model alone {:.2} / {:.2} ({}, {}, {})",
            c.as_str(),
            r.precision(),
            r.recall(),
            r.tp,
            r.fp,
            r.fn_,
            m.precision(),
            m.recall(),
            m.tp,
            m.fp,
            m.fn_
        );
    }
}

/// Not a check: lists the tuning sets' mistakes for whoever tunes the rules (`cargo test -p
/// connectors --test classification mistakes -- --ignored --nocapture`). The held-out sets are never
/// looked at item by item, so they are not listed.
#[test]
#[ignore = "a listing for tuning, not a check"]
fn mistakes_on_the_tuning_sets() {
    let examples = examples();
    // Each set judged by a model trained without it: the model knows every tuning item by heart.
    for (name, splits, _) in TUNING_SETS {
        let model = model_without(&examples, splits);
        for e in examples.iter().filter(|e| splits.contains(&e.split.as_str())) {
            let r =
                classify_with(Input { title: &e.title, summary: &e.summary, tags: &[], default: None }, Some(&model));
            for c in [Category::RouteChange, Category::RegulatoryChange] {
                let (g, p) = (e.gold.contains(&c), r.categories.contains(&c));
                if g != p {
                    println!(
                        "{name} {} {} {}: {} | {} | terms {:?}",
                        e.id,
                        if g { "MISSED" } else { "WRONG" },
                        c.as_str(),
                        e.title,
                        e.summary,
                        r.terms
                    );
                }
            }
        }
    }
}

/// The recall aimed at when choosing thresholds: the issue's 0.8 for a title with its summary, and
/// 0.7 for a title alone (many feeds publish no summary, and a headline gives less to go on);
/// precision is aimed at 0.9 both ways.
const RECALL_AIMS: [f64; 2] = [0.8, 0.7];

/// The tuning sets, each left out in turn: a name, its splits, and whether the keyword rules were
/// written without seeing it (those sets alone choose the thresholds).
const TUNING_SETS: [(&str, &[&str], bool); 14] = [
    ("eval", &["tune", "test"], false),
    ("holdout1", &["holdout1"], false),
    ("holdout2", &["holdout2"], true),
    ("holdout3", &["holdout3"], true),
    ("holdout4", &["holdout4"], true),
    ("holdout5", &["holdout5"], true),
    ("holdout6", &["holdout6"], true),
    ("holdout7", &["holdout7"], true),
    ("holdout8", &["holdout8"], true),
    ("holdout9", &["holdout9"], true),
    ("holdout10", &["holdout10"], true),
    ("holdout11", &["holdout11"], true),
    ("holdout12", &["holdout12"], true),
    ("holdout13", &["holdout13"], true),
];

/// The learned model trained on every tuning set but `splits`.
fn model_without(examples: &[Example], splits: &[&str]) -> Model {
    let train: Vec<Labelled> =
        examples.iter().filter(|e| !held_out(&e.split) && !splits.contains(&e.split.as_str())).map(labelled).collect();
    learned::train(&train, learned::DEFAULT_C)
}

fn labelled(e: &Example) -> Labelled {
    let text = normalise(&format!("{}\n{}", e.title, e.summary));
    Labelled {
        tokens: tokens(&text).map(str::to_string).collect(),
        gold: learned::CATEGORIES.map(|c| e.gold.contains(&c)),
    }
}

/// Whether a split is held out (`HELD_OUT`).
fn held_out(split: &str) -> bool {
    HELD_OUT.contains(&split)
}

/// The sets the learned model is trained on: every set but the held-out ones.
fn training_set(examples: &[Example]) -> Vec<Labelled> {
    examples.iter().filter(|e| !held_out(&e.split)).map(labelled).collect()
}

/// `rules/learned.tsv` is what training on the tuning sets gives. `TRAIN_CLASSIFIER=1` rewrites it.
#[test]
fn the_learned_model_is_what_training_gives() {
    let examples = examples();
    let trained = learned::train(&training_set(&examples), learned::DEFAULT_C);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/learned.tsv");
    if std::env::var_os("TRAIN_CLASSIFIER").is_some() {
        std::fs::write(path, trained.to_tsv()).unwrap();
    }
    let committed = Model::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    let distance = trained.distance(&committed);
    assert!(distance < 1e-5, "rules/learned.tsv differs from training by {distance}: run TRAIN_CLASSIFIER=1 cargo test -p connectors --test classification");
    assert!(committed.distance(learned::model()) == 0.0, "the classifier was built with another rules/learned.tsv");
}

/// How the classifier does on text its model was not trained on, and where its thresholds come
/// from. Each tuning set in turn is left out of training, and the sets the keyword rules were not
/// tuned on either (`holdout2` to `holdout13`) are scored for every choice of thresholds (in steps
/// of 0.05: with the rules' agreement from 0.10 to 0.70; without it from 0.30 to 0.80; against an
/// exclusion, when the rules find another category, and without an anchor, from the one without
/// the rules up to 1.05, which is never; with the rules never above without them).
///
/// The two readings (`learned::Reading`) have their own thresholds. Those for a title with its
/// summary are chosen on the items whose summary says more than the title, as written; those for
/// a title alone on the other items as written and on the titles alone of the first (many feeds
/// publish no summary). For each reading and category the choice is the one whose worst case comes
/// closest to the target: the smallest of precision / 0.9 and recall / the reading's aim
/// (`RECALL_AIMS`), over the sets, is largest (of equals, the first in order).
#[test]
fn leave_one_set_out_chooses_the_thresholds() {
    let examples = examples();
    // Each set's items as counts by what the rules say and threshold, so that a choice of
    // thresholds costs a few lookups a set rather than a pass over its items: `[part][category]`,
    // the parts being the items read as written with a summary (0), the items read as a title
    // alone (no summary, or one that repeats the title: 1), and the titles alone of the first (2).
    let tables: Vec<(&str, bool, [[Table; 2]; 3])> = TUNING_SETS
        .iter()
        .map(|(name, splits, rules_blind)| {
            let model = model_without(&examples, splits);
            let mut tables = [[Table::default(); 2]; 3];
            for e in examples.iter().filter(|e| splits.contains(&e.split.as_str())) {
                let (title, summary) = (normalise(&e.title), normalise(&e.summary));
                let (title, summary): (Vec<&str>, Vec<&str>) = (tokens(&title).collect(), tokens(&summary).collect());
                let as_written = Input { title: &e.title, summary: &e.summary, tags: &[], default: None };
                let readings = match Reading::of(&title, &summary) {
                    Reading::Written => vec![
                        (0, model.judge(&title, &summary), as_written),
                        (2, model.judge(&title, &[]), Input { summary: "", ..as_written }),
                    ],
                    Reading::TitleOnly => vec![(1, model.judge(&title, &summary), as_written)],
                };
                for (part, verdict, input) in readings {
                    let said = rules_say(input);
                    for (k, c) in learned::CATEGORIES.iter().enumerate() {
                        tables[part][k].add(said[k], e.gold.contains(c), verdict.probability[k]);
                    }
                }
            }
            (*name, *rules_blind, tables)
        })
        .collect();
    let choices = threshold_choices();
    let mut disagreements = Vec::new();
    for (k, c) in learned::CATEGORIES.iter().enumerate() {
        // The table each reading's thresholds are chosen on, per set.
        let reading_table = |parts: &[[Table; 2]; 3], reading: Reading| match reading {
            Reading::Written => parts[0][k],
            Reading::TitleOnly => parts[1][k].plus(&parts[2][k]),
        };
        let [written, title_only] = [Reading::Written, Reading::TitleOnly].map(|reading| {
            let aim = RECALL_AIMS[reading as usize];
            let blind: Vec<Table> =
                tables.iter().filter(|(_, blind, _)| *blind).map(|(_, _, t)| reading_table(t, reading)).collect();
            let worst = |t: &Thresholds| {
                let steps = Table::steps(t);
                blind
                    .iter()
                    .map(|table| {
                        let s = table.score_at(&steps);
                        (s.precision() / 0.9).min(s.recall() / aim)
                    })
                    .fold(f64::INFINITY, f64::min)
            };
            let scored: Vec<i64> = choices.iter().map(|t| (worst(t) * 1000.0).round() as i64).collect();
            let best = (0..choices.len()).max_by_key(|i| (scored[*i], std::cmp::Reverse(*i))).unwrap();
            let t = choices[best];
            println!(
                "{} {reading:?}: thresholds {:.2} with the rules, {:.2} without, {:.2} against an exclusion, {:.2} \
                 when they find another category, at least {:.2} without an anchor; worst case at {:.3} of the target",
                c.as_str(),
                t.with_rules,
                t.alone,
                t.excluded,
                t.elsewhere,
                t.unanchored,
                worst(&t)
            );
            let committed = learned::THRESHOLDS[reading as usize][k];
            if Table::steps(&committed) != Table::steps(&t) {
                disagreements.push(format!(
                    "{} {reading:?}: learned::THRESHOLDS says {committed:?}, leaving sets out says {t:?}",
                    c.as_str()
                ));
            }
            t
        });
        for (name, _, parts) in &tables {
            let mut full = parts[0][k].score(&written);
            full.merge(parts[1][k].score(&title_only));
            let titles = reading_table(parts, Reading::TitleOnly).score(&title_only);
            println!(
                "  left out {name}: as written {:.2} / {:.2}, titles alone {:.2} / {:.2}",
                full.precision(),
                full.recall(),
                titles.precision(),
                titles.recall()
            );
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// The thresholds tried: steps of 0.05 from 0.10 to 1.05 (which is never).
const STEPS: usize = 20;

fn step(i: usize) -> f64 {
    (i + 2) as f64 * 0.05
}

fn step_of(threshold: f64) -> usize {
    ((threshold / 0.05).round() as usize).saturating_sub(2).min(STEPS - 1)
}

/// Every choice of thresholds tried, in order: with the rules 0.10–0.70, without 0.30–0.80, the
/// other three from the one without up to 1.05. The rules' agreement never raises the bar: with
/// the rules is at most without them.
fn threshold_choices() -> Vec<Thresholds> {
    let mut choices = Vec::new();
    for w in 0..=12 {
        for a in w.max(4)..=14 {
            for x in a..STEPS {
                for e in a..STEPS {
                    for u in a..STEPS {
                        choices.push(Thresholds {
                            with_rules: step(w),
                            alone: step(a),
                            excluded: step(x),
                            elsewhere: step(e),
                            unanchored: step(u),
                        });
                    }
                }
            }
        }
    }
    choices
}

/// One set's items for one category and reading, counted by what the rules say, whether the
/// text is anchored, and the threshold: `counts[cell][step]` is (true positives, false positives,
/// misses) at that threshold.
#[derive(Clone, Copy)]
struct Table {
    counts: [[(u32, u32, u32); STEPS]; 8],
}

impl Default for Table {
    fn default() -> Table {
        Table { counts: [[(0, 0, 0); STEPS]; 8] }
    }
}

impl Table {
    const SAID: [learned::Rules; 4] =
        [learned::Rules::Found, learned::Rules::Silent, learned::Rules::Excluded, learned::Rules::Elsewhere];

    fn cell((said, anchored): (learned::Rules, bool)) -> usize {
        Self::SAID.iter().position(|s| *s == said).unwrap() * 2 + usize::from(anchored)
    }

    fn add(&mut self, said: (learned::Rules, bool), gold: bool, probability: f64) {
        let row = &mut self.counts[Self::cell(said)];
        for (i, counts) in row.iter_mut().enumerate() {
            match (gold, probability >= step(i) - 1e-9) {
                (true, true) => counts.0 += 1,
                (false, true) => counts.1 += 1,
                (true, false) => counts.2 += 1,
                (false, false) => {}
            }
        }
    }

    /// Both tables' items together.
    fn plus(&self, other: &Table) -> Table {
        let mut sum = *self;
        for (row, theirs) in sum.counts.iter_mut().zip(&other.counts) {
            for (c, o) in row.iter_mut().zip(theirs) {
                *c = (c.0 + o.0, c.1 + o.1, c.2 + o.2);
            }
        }
        sum
    }

    /// The step of each cell's threshold under `t`.
    fn steps(t: &Thresholds) -> [usize; 8] {
        let mut steps = [0; 8];
        for said in Self::SAID {
            for anchored in [false, true] {
                steps[Self::cell((said, anchored))] = step_of(t.for_rules((said, anchored)));
            }
        }
        steps
    }

    /// The score under thresholds `t`.
    fn score(&self, t: &Thresholds) -> Score {
        self.score_at(&Self::steps(t))
    }

    /// The score with each cell at its step.
    fn score_at(&self, steps: &[usize; 8]) -> Score {
        let mut score = Score::default();
        for (cell, step) in steps.iter().enumerate() {
            let (tp, fp, fn_) = self.counts[cell][*step];
            score.tp += tp as usize;
            score.fp += fp as usize;
            score.fn_ += fn_ as usize;
        }
        score
    }
}
