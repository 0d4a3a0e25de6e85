//! Every preset parses, and reads a fixture written in its publisher's own format.

use connectors::mapping::{preset, Mapping, PRESETS};
use connectors::{Connector, CountryRole, FeedContext, Parsed};

fn read(preset_name: &str, fixture: &str) -> Parsed {
    let mapping = Mapping::parse(preset(preset_name).expect("preset exists")).expect("preset parses");
    let bytes = std::fs::read(format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"))).expect("fixture");
    Connector::Csv(Some(Box::new(mapping))).parse(&bytes, &FeedContext::default()).expect("fixture parses")
}

#[test]
fn every_preset_parses() {
    assert!(PRESETS.len() >= 2);
    for (name, text) in PRESETS {
        Mapping::parse(text).unwrap_or_else(|e| panic!("preset {name}: {e}"));
    }
    assert!(preset("Missing-Migrants").is_some(), "names are matched without case");
    assert!(preset("nothing").is_none());
}

#[test]
fn missing_migrants_incidents_become_items_with_figures() {
    let parsed = read("missing-migrants", "missing-migrants.csv");
    assert_eq!(parsed.items.len(), 3, "{:?}", parsed.warnings);
    // Guinea is one of the names DESIGN.md calls ambiguous (Guinea, Guinea-Bissau, Equatorial Guinea).
    assert_eq!(
        parsed.warnings,
        ["`Guinea` in column Country of Origin may not mean GN (ambiguous name); check the item's countries"]
    );
    let first = &parsed.items[0];
    assert_eq!(first.source_key, "id:2026.MMP00101");
    assert_eq!(first.title, "Incident: 15 dead or missing, Off Lampedusa, Italy");
    assert_eq!(first.url.as_deref(), Some("https://missingmigrants.iom.int/incident/2026-mmp00101"));
    assert_eq!(first.route.as_deref(), Some("Central Mediterranean"));
    let countries: Vec<(&str, CountryRole)> = first.countries.iter().map(|c| (c.code.as_str(), c.role)).collect();
    assert_eq!(
        countries[..3],
        [("IT", CountryRole::Mentioned), ("GN", CountryRole::Origin), ("CI", CountryRole::Origin)]
    );
    let figures: Vec<(&str, f64, Vec<&str>)> = first
        .figures
        .iter()
        .map(|f| (f.measure.as_str(), f.value, f.disaggregation.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        figures,
        [
            ("dead", 4.0, vec![]),
            ("missing", 11.0, vec![]),
            ("dead_and_missing", 15.0, vec![]),
            ("survivors", 38.0, vec![]),
            ("dead_and_missing", 3.0, vec!["f"]),
            ("dead_and_missing", 9.0, vec!["m"]),
            ("dead_and_missing", 2.0, vec!["children"]),
        ]
    );
    assert!(first.figures.iter().all(|f| f.unit.as_deref() == Some("people")));
    assert_eq!(first.published_at.map(|d| d.date_naive().to_string()).as_deref(), Some("2026-10-03"));
    // An origin the project records as "Unknown" is no country and no warning.
    let third = &parsed.items[2];
    assert_eq!(third.countries.iter().map(|c| c.code.as_str()).collect::<Vec<_>>(), ["MX"]);
    assert_eq!(
        third.figures.iter().filter(|f| f.measure == "dead_and_missing").count(),
        2,
        "empty cells are no figures"
    );
}

#[test]
fn the_hxl_preset_is_the_defaults() {
    let mapping = Mapping::parse(preset("hxl").unwrap()).unwrap();
    assert!(!mapping.snapshot);
    assert_eq!(mapping.item, Default::default());
    assert!(mapping.figures.is_empty());
}
