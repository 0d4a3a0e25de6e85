//! The RSS connector parses every real feed fixture that feed-rs ships in its crate, with stable
//! identities. The fixtures are found through `cargo metadata`, never copied into this repository.

use std::path::PathBuf;
use std::process::Command;

use connectors::{Connector, FeedContext};

/// feed-rs's crate directory, from `cargo metadata`.
fn feed_rs_dir() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let manifest = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == "feed-rs")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("feed-rs is a dependency");
    PathBuf::from(manifest).parent().expect("crate dir").to_path_buf()
}

fn fixtures() -> Vec<PathBuf> {
    let root = feed_rs_dir().join("fixture");
    let mut files = Vec::new();
    for dir in ["atom", "rss0", "rss1", "rss2", "jsonfeed"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("fixture directory exists") {
            let path = entry.expect("dir entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if name.ends_with(".serde.json") || name == "rss_2.0_invalid_1.xml" || !path.is_file() {
                continue;
            }
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn every_feed_rs_fixture_parses_with_stable_ids() {
    let files = fixtures();
    assert!(files.len() > 50, "expected feed-rs's fixtures, found {}", files.len());
    let mut items = 0;
    let mut failures = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path).expect("readable fixture");
        let context = FeedContext::default();
        match (Connector::Rss.parse(&bytes, &context), Connector::Rss.parse(&bytes, &context)) {
            (Ok(first), Ok(second)) => {
                let ids = |p: &connectors::Parsed| p.items.iter().map(|i| i.source_key.clone()).collect::<Vec<_>>();
                assert_eq!(ids(&first), ids(&second), "unstable ids in {}", path.display());
                for item in &first.items {
                    assert!(!item.source_key.contains('\0'), "generated id used in {}", path.display());
                    assert!(!item.title.contains('<') || !item.title.contains('>'), "markup in title: {}", item.title);
                }
                let entries = feed_rs::parser::parse(bytes.as_slice()).map(|f| f.entries.len()).unwrap_or(0);
                assert_eq!(first.items.len(), entries, "entries lost in {}: {:?}", path.display(), first.warnings);
                items += first.items.len();
            }
            (Err(e), _) | (_, Err(e)) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(failures.is_empty(), "fixtures that failed to parse:\n{}", failures.join("\n"));
    assert!(items > 50, "only {items} items across {} fixtures", files.len());
}

/// Parsing a document a slice of entries at a time gives exactly what parsing it whole gives.
#[test]
fn every_fixture_parses_the_same_in_slices() {
    let mut split = 0;
    for path in fixtures() {
        let bytes = std::fs::read(&path).expect("readable fixture");
        let context = FeedContext { url: Some("https://example.org/feed".into()), ..FeedContext::default() };
        let Ok(whole) = Connector::Rss.parse(&bytes, &context) else { continue };
        if connectors::split::split(&bytes).is_some_and(|s| s.entry_count() > 1) {
            split += 1;
        }
        for chunk_size in [1, 10, 20] {
            let mut items = Vec::new();
            let mut sliced = Connector::Rss
                .parse_chunks(&bytes, &context, chunk_size, &mut |chunk| items.extend(chunk))
                .unwrap_or_else(|e| panic!("{} in slices of {chunk_size}: {e}", path.display()));
            sliced.items = items;
            assert_eq!(sliced.items, whole.items, "items of {} in slices of {chunk_size}", path.display());
            assert_eq!(sliced.warnings, whole.warnings, "warnings of {}", path.display());
            assert_eq!((&sliced.title, sliced.ttl_minutes), (&whole.title, whole.ttl_minutes), "{}", path.display());
        }
    }
    // Most of feed-rs's fixtures hold a single entry; those with more must have been split.
    assert!(split >= 8, "only {split} fixtures were split at their entries");
}
