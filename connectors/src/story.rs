//! Story keys: two entries from different feeds carry the same story when their links are the
//! same once tracking parameters and cosmetic differences are taken away, or when their titles and
//! summaries are the same once normalised. The hub links such entries as duplicates, so one story
//! is announced and listed once.

use sha2::{Digest, Sha256};

use crate::text::{hex, normalise, tokens};

/// Query parameters that only track where a click came from.
const TRACKING: [&str; 9] = ["fbclid", "gclid", "mc_cid", "mc_eid", "ref", "ref_src", "igshid", "yclid", "_hsenc"];

/// Titles shorter than this many words ("Update", "Press release") are too generic to say two
/// entries are one story.
const MIN_TITLE_WORDS: usize = 4;

fn key(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes())[..16])
}

/// The key of a link: host without `www.`, path without a trailing slash, the query without
/// tracking parameters and in order; scheme and fragment ignored.
pub fn url_key(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    let host = parsed.host_str()?.to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let path = parsed.path().trim_end_matches('/');
    let mut query: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| !k.starts_with("utm_") && !TRACKING.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    query.sort();
    let query: Vec<String> = query.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    Some(key(&format!("{host}{port}{path}?{}", query.join("&"))))
}

/// The key of a title and summary, normalised (case, diacritics, Arabic letter variants,
/// punctuation); none for a title too short to tell stories apart.
pub fn text_key(title: &str, summary: &str) -> Option<String> {
    let title = normalise(title);
    let summary = normalise(summary);
    let title: Vec<&str> = tokens(&title).collect();
    let summary: Vec<&str> = tokens(&summary).collect();
    text_key_of_tokens(&title, &summary)
}

/// As [`text_key`], over the title's and summary's normalised tokens.
pub fn text_key_of_tokens(title: &[&str], summary: &[&str]) -> Option<String> {
    if title.len() < MIN_TITLE_WORDS {
        return None;
    }
    Some(key(&format!("{}\n{}", title.join(" "), summary.join(" "))))
}

/// Whether two titles tell the same story closely enough to trust a shared link: at least half of
/// the words of four letters or more of the shorter one are in the other. A link alone is not
/// enough, or a feed that published first could hide another organisation's item by giving its
/// own entry that item's link.
pub fn titles_agree(a: &str, b: &str) -> bool {
    let words = |text: &str| -> std::collections::HashSet<String> {
        let norm = normalise(text);
        tokens(&norm).filter(|t| t.chars().count() >= 4).map(str::to_string).collect()
    };
    let (a, b) = (words(a), words(b));
    let shorter = a.len().min(b.len());
    shorter > 0 && a.intersection(&b).count() * 2 >= shorter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_that_differ_only_in_tracking_and_cosmetics_are_one_story() {
        let a = url_key("https://www.redcross.fr/news/border-closure/?utm_source=rss&utm_medium=feed#top");
        let b = url_key("http://redcross.fr/news/border-closure");
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_ne!(a, url_key("https://redcross.fr/news/border-closure?id=2"));
        assert_eq!(url_key("https://x.org/a?b=2&a=1"), url_key("https://x.org/a?a=1&b=2&fbclid=zz"));
        assert_eq!(url_key("not a link"), None);
    }

    #[test]
    fn a_shared_link_counts_only_with_titles_that_agree() {
        assert!(titles_agree("Border closure at Ventimiglia", "Ventimiglia: border closed"));
        assert!(!titles_agree("Border closure at Ventimiglia", "Our annual report is out"));
        assert!(!titles_agree("", "Ventimiglia: border closed"));
    }

    #[test]
    fn titles_and_summaries_are_compared_normalised_and_short_titles_not_at_all() {
        let a = text_key("Réfugiés : la frontière est fermée à Vintimille", "Les passages sont suspendus.");
        let b = text_key("REFUGIES — la frontiere est fermee a Vintimille", "Les passages sont suspendus");
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_ne!(a, text_key("Réfugiés : la frontière est fermée à Vintimille", "Autre texte."));
        assert_eq!(text_key("Press release", "Same text"), None);
    }
}
