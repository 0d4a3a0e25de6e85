//! `serve --demo`: bundled sample feeds (fictional items in English, French, Spanish, Russian and
//! Arabic) served by the hub itself at `/demo/feeds/NAME`, registered on start, and growing by one
//! entry every 30 seconds from the templates in `demo/live.toml`, so a newcomer sees items and live
//! changes within seconds.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::model::{FeedUrl, NewFeed, OrgId};
use crate::store::{Store, StoreError};

/// Seconds between new sample entries.
pub const LIVE_EVERY: Duration = Duration::from_secs(30);

/// Poll interval of the sample feeds, so new entries show up quickly.
pub const DEMO_POLL_SECS: i64 = 10;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Rss,
    Atom,
    JsonFeed,
}

struct SampleFeed {
    name: &'static str,
    file: &'static str,
    body: &'static str,
    format: Format,
    /// The organisation it is registered for (the IFRC for the MENA sample: MENA societies are
    /// not among the seeded regions).
    owner: &'static str,
    language: &'static str,
}

const SAMPLES: [SampleFeed; 5] = [
    SampleFeed {
        name: "perco-en",
        file: "perco-en.xml",
        body: include_str!("demo/perco-en.xml"),
        format: Format::Rss,
        owner: "IT",
        language: "en",
    },
    SampleFeed {
        name: "perco-fr",
        file: "perco-fr.xml",
        body: include_str!("demo/perco-fr.xml"),
        format: Format::Atom,
        owner: "FR",
        language: "fr",
    },
    SampleFeed {
        name: "americas-es",
        file: "americas-es.json",
        body: include_str!("demo/americas-es.json"),
        format: Format::JsonFeed,
        owner: "CO",
        language: "es",
    },
    SampleFeed {
        name: "central-asia-ru",
        file: "central-asia-ru.xml",
        body: include_str!("demo/central-asia-ru.xml"),
        format: Format::Rss,
        owner: "KZ",
        language: "ru",
    },
    SampleFeed {
        name: "mena-ar",
        file: "mena-ar.xml",
        body: include_str!("demo/mena-ar.xml"),
        format: Format::Rss,
        owner: "IFRC",
        language: "ar",
    },
];

#[derive(Deserialize)]
struct LiveFile {
    entry: Vec<LiveTemplate>,
}

#[derive(Deserialize, Clone)]
struct LiveTemplate {
    feed: String,
    title: String,
    summary: String,
}

/// A generated entry.
struct LiveEntry {
    feed: String,
    number: u64,
    title: String,
    summary: String,
    at: DateTime<Utc>,
}

/// The demo's feeds and the entries added since start.
pub struct Demo {
    templates: Vec<LiveTemplate>,
    added: Mutex<Vec<LiveEntry>>,
}

impl Demo {
    /// The bundled samples.
    pub fn new() -> anyhow::Result<Demo> {
        let live: LiveFile = toml::from_str(include_str!("demo/live.toml"))?;
        Ok(Demo { templates: live.entry, added: Mutex::new(Vec::new()) })
    }

    /// Registers the sample feeds served at `base` (e.g. `http://127.0.0.1:8080`); feeds already
    /// registered by an earlier demo run are kept.
    pub async fn register(&self, store: &dyn Store, base: &str) -> anyhow::Result<()> {
        for sample in &SAMPLES {
            let url = FeedUrl::parse(&format!("{base}/demo/feeds/{}", sample.file)).map_err(anyhow::Error::msg)?;
            let feed = NewFeed {
                default_language: Some(sample.language.into()),
                ..NewFeed::new(OrgId(sample.owner.into()), url, DEMO_POLL_SECS)
            };
            match store.add_feed(&feed).await {
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Appends the next live entry.
    pub fn tick(&self) {
        let Ok(mut added) = self.added.lock() else { return };
        let number = added.len() as u64 + 1;
        let template = &self.templates[(number as usize - 1) % self.templates.len()];
        added.push(LiveEntry {
            feed: template.feed.clone(),
            number,
            title: template.title.clone(),
            summary: template.summary.clone(),
            at: Utc::now(),
        });
        tracing::info!(feed = %template.feed, number, "demo: new sample entry");
    }

    /// Adds an entry every [`LIVE_EVERY`] until `shutdown` completes.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut ticker = tokio::time::interval(LIVE_EVERY);
        ticker.tick().await; // the first tick is immediate
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = ticker.tick() => self.tick(),
            }
        }
    }

    /// The sample feed `file` with the live entries added so far: (content type, body).
    pub fn render(&self, file: &str) -> Option<(&'static str, String)> {
        let sample = SAMPLES.iter().find(|s| s.file == file)?;
        let added = self.added.lock().ok()?;
        let live: Vec<&LiveEntry> = added.iter().filter(|e| e.feed == sample.name).collect();
        let body = match sample.format {
            Format::Rss => insert_before(sample.body, "</channel>", &live, rss_item),
            Format::Atom => insert_before(sample.body, "</feed>", &live, atom_entry),
            Format::JsonFeed => json_with(sample.body, &live),
        };
        let content_type = match sample.format {
            Format::Rss => "application/rss+xml; charset=utf-8",
            Format::Atom => "application/atom+xml; charset=utf-8",
            Format::JsonFeed => "application/feed+json; charset=utf-8",
        };
        Some((content_type, body))
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn rss_item(e: &LiveEntry) -> String {
    format!(
        "<item><guid isPermaLink=\"false\">tributary-demo-live-{n}</guid><title>{t} (#{n})</title>\
         <description>{s}</description><pubDate>{d}</pubDate></item>\n",
        n = e.number,
        t = escape(&e.title),
        s = escape(&e.summary),
        d = e.at.to_rfc2822()
    )
}

fn atom_entry(e: &LiveEntry) -> String {
    format!(
        "<entry><id>urn:tributary-demo:live:{n}</id><title>{t} (#{n})</title><summary>{s}</summary>\
         <published>{d}</published><updated>{d}</updated></entry>\n",
        n = e.number,
        t = escape(&e.title),
        s = escape(&e.summary),
        d = e.at.to_rfc3339()
    )
}

fn insert_before(body: &str, marker: &str, live: &[&LiveEntry], render: fn(&LiveEntry) -> String) -> String {
    let Some(at) = body.rfind(marker) else { return body.to_string() };
    let mut out = String::with_capacity(body.len() + live.len() * 400);
    out.push_str(&body[..at]);
    for e in live {
        out.push_str(&render(e));
    }
    out.push_str(&body[at..]);
    out
}

fn json_with(body: &str, live: &[&LiveEntry]) -> String {
    let Ok(mut feed) = serde_json::from_str::<serde_json::Value>(body) else { return body.to_string() };
    if let Some(items) = feed.get_mut("items").and_then(|i| i.as_array_mut()) {
        for e in live {
            items.push(serde_json::json!({
                "id": format!("tributary-demo-live-{}", e.number),
                "title": format!("{} (#{})", e.title, e.number),
                "content_text": e.summary,
                "date_published": e.at.to_rfc3339(),
            }));
        }
    }
    feed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use connectors::{Connector, FeedContext};

    #[test]
    fn every_sample_parses_and_grows_with_live_entries() {
        let demo = Demo::new().unwrap();
        for _ in 0..demo.templates.len() {
            demo.tick();
        }
        for sample in &SAMPLES {
            let before = sample.body;
            let base = Connector::Rss.parse(before.as_bytes(), &FeedContext::default()).unwrap();
            let (_, body) = demo.render(sample.file).unwrap();
            let grown = Connector::Rss.parse(body.as_bytes(), &FeedContext::default()).unwrap();
            assert!(grown.items.len() > base.items.len(), "{} did not grow", sample.name);
            assert!(!base.items.is_empty(), "{} is empty", sample.name);
        }
    }
}
