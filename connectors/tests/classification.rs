//! The classifier against labelled headlines and summaries in English, French, Spanish, Arabic
//! and Russian, with hard negatives (places that are also words, blood drives, sports, "route" and
//! "law" in other senses, calls for changes that have not happened):
//!
//! - `tests/classification/eval.jsonl` (296 items) and `holdout.jsonl` (210 items), which the
//!   rules are tuned on; each served as the held-out set first (BENCHMARKS.md tells how);
//! - `tests/classification/holdout2.jsonl` (245 items), written blind after that tuning, which
//!   measures the rules. They are never changed looking at its items.
//!
//! ```sh
//! EVAL_SHOW_MISTAKES=1 cargo test -p connectors --test classification -- --nocapture
//! ```
//!
//! prints the scores and the tuning set's mistakes. BENCHMARKS.md reports the held-out scores.

use std::collections::BTreeMap;

use connectors::classify::{classify, Input};
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

/// The tuning sets (splits `tune`, `test` and `holdout1`) and the held-out set (split `holdout`).
fn examples() -> Vec<Example> {
    let mut all = parse(include_str!("classification/eval.jsonl"), None);
    all.extend(parse(include_str!("classification/holdout.jsonl"), Some("holdout1")));
    all.extend(parse(include_str!("classification/holdout2.jsonl"), Some("holdout")));
    all
}

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
        out.push_str(&format!(
            "| {} | {:.2} | {:.2} | {} | {} | {} |\n",
            c.as_str(),
            s.precision(),
            s.recall(),
            s.tp,
            s.fp,
            s.fn_
        ));
    }
    out.push_str("\n| category | language | precision | recall | tp | fp | fn |\n|---|---|---|---|---|---|---|\n");
    for ((c, lang), s) in &by_language {
        out.push_str(&format!(
            "| {} | {lang} | {:.2} | {:.2} | {} | {} | {} |\n",
            c.as_str(),
            s.precision(),
            s.recall(),
            s.tp,
            s.fp,
            s.fn_
        ));
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
        assert!(matches!(e.split.as_str(), "tune" | "test" | "holdout1" | "holdout"), "{}: split {}", e.id, e.split);
    }
    for lang in ["en", "fr", "es", "ar", "ru"] {
        assert!(examples.iter().filter(|e| e.lang == lang).count() >= 30, "too few in {lang}");
    }
    for category in [Category::RouteChange, Category::RegulatoryChange] {
        for split in ["tune", "test", "holdout1", "holdout"] {
            let positives = examples.iter().filter(|e| e.split == split && e.gold.contains(&category)).count();
            assert!(positives >= 30, "{positives} {category} positives in the {split} half");
        }
    }
}

/// Floors under the scores measured on the held-out set (`holdout2.jsonl`) when the rules were
/// last tuned (BENCHMARKS.md, "Classification"), so a rule change that makes them worse fails
/// here. The issue's target is precision 0.9 and recall 0.8 for both; on this set, weighted
/// towards regulatory near-misses, route changes reach precision 1.00 but recall 0.732, and
/// regulatory changes recall 0.903 but precision 0.747.
const FLOORS: [(Category, f64, f64); 2] =
    [(Category::RouteChange, 0.99, 0.73), (Category::RegulatoryChange, 0.74, 0.90)];

#[test]
fn route_and_regulatory_changes_keep_their_held_out_scores() {
    let examples = examples();
    println!("{}", report(&examples, "tune"));
    println!("{}", report(&examples, "test"));
    println!("{}", report(&examples, "holdout1"));
    println!("{}", report(&examples, "holdout"));
    if std::env::var_os("EVAL_SHOW_MISTAKES").is_some() {
        // The tuning set only: the held-out set is never looked at item by item.
        for e in examples.iter().filter(|e| e.split != "holdout") {
            let predicted = predict(e);
            for c in [Category::RouteChange, Category::RegulatoryChange] {
                let (g, p) = (e.gold.contains(&c), predicted.contains(&c));
                if g != p {
                    let r = classify(Input { title: &e.title, summary: &e.summary, tags: &[], default: None });
                    println!(
                        "{} {} {}: {} | {} | terms {:?}",
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
    let (held_out, _) = score(&examples, "holdout");
    for (c, precision, recall) in FLOORS {
        let s = held_out[&c];
        assert!(
            s.precision() >= precision - 1e-9 && s.recall() >= recall - 1e-9,
            "{}: precision {:.3}, recall {:.3} on the held-out half (floors {precision}, {recall})",
            c.as_str(),
            s.precision(),
            s.recall()
        );
    }
}
