//! The two web pages the hub serves itself: the live dashboard (`/`) and feed registration
//! (`/register`), in English, French, Spanish, Arabic (right to left) and Russian. Pages, styles,
//! scripts and translations are compiled into the binary; the pages use only the public GraphQL
//! API (over HTTP and `graphql-transport-ws`), so they are also a reference for anyone building
//! their own dashboard.
//!
//! The language comes from `?lang=` (remembered in a cookie), else the cookie, else
//! `Accept-Language`, else English. Every page is rendered once per language, at first use: a
//! request only picks the rendered bytes.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::http::AppState;

/// The interface languages: tag, own name, writing direction.
pub const LANGUAGES: [(&str, &str, &str); 5] = [
    ("en", "English", "ltr"),
    ("fr", "Français", "ltr"),
    ("es", "Español", "ltr"),
    ("ar", "العربية", "rtl"),
    ("ru", "Русский", "ltr"),
];

/// Each language's words, in the order of [`LANGUAGES`] (a test checks they have the same keys).
const DICTIONARIES: [&str; 5] = [
    include_str!("i18n/en.json"),
    include_str!("i18n/fr.json"),
    include_str!("i18n/es.json"),
    include_str!("i18n/ar.json"),
    include_str!("i18n/ru.json"),
];

/// The cookie that remembers a language chosen with the switcher.
const LANGUAGE_COOKIE: &str = "tributary_lang";

/// The pages: their path and template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Page {
    /// `/`: the live dashboard.
    Dashboard,
    /// `/register`: feed registration.
    Register,
}

impl Page {
    fn template(self) -> &'static str {
        match self {
            Page::Dashboard => include_str!("pages/dashboard.html"),
            Page::Register => include_str!("pages/register.html"),
        }
    }

    fn path(self) -> &'static str {
        match self {
            Page::Dashboard => "/",
            Page::Register => "/register",
        }
    }

    /// Its script under `/assets/` (without `.js`), and the key of its title.
    fn name_and_title(self) -> (&'static str, &'static str) {
        match self {
            Page::Dashboard => ("dashboard", "dash.title"),
            Page::Register => ("register", "reg.title"),
        }
    }

    const ALL: [Page; 2] = [Page::Dashboard, Page::Register];
}

/// The start of every page: the head (title, styles, the page's script) and the header (name,
/// navigation, language switcher, token form).
const TOP: &str = include_str!("pages/top.html");

/// A file under `/assets/`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: [Asset; 5] = [
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", body: include_bytes!("assets/app.css") },
    Asset { name: "hub.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("assets/hub.js") },
    Asset {
        name: "dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/dashboard.js"),
    },
    Asset {
        name: "register.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/register.js"),
    },
    Asset { name: "icon.svg", content_type: "image/svg+xml", body: include_bytes!("assets/icon.svg") },
];

/// What the pages may load and connect to: this hub only, no inline script.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The routes of the web pages.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|q: Query<LanguageQuery>, h: HeaderMap| async move { page(Page::Dashboard, &q, &h) }))
        .route("/register", get(|q: Query<LanguageQuery>, h: HeaderMap| async move { page(Page::Register, &q, &h) }))
        .route("/assets/{name}", get(asset))
}

/// `?lang=` on a page.
#[derive(Debug, Default, serde::Deserialize)]
pub struct LanguageQuery {
    lang: Option<String>,
}

fn page(page: Page, query: &LanguageQuery, headers: &HeaderMap) -> Response {
    let chosen = query.lang.as_deref().and_then(language_index);
    let language = chosen.or_else(|| cookie_language(headers)).unwrap_or_else(|| accepted_language(headers));
    let mut response = rendered().pages[&(page, language)].respond("text/html; charset=utf-8", headers);
    let h = response.headers_mut();
    h.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(LANGUAGES[language].0));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Language, Cookie, Accept-Encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Some(language) = chosen {
        let cookie = format!("{LANGUAGE_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax", LANGUAGES[language].0);
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            h.insert(header::SET_COOKIE, value);
        }
    }
    response
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    // Pages name assets with the build's version (`?v=`), so they may be kept for long.
    let mut response = rendered().assets[index].respond(ASSETS[index].content_type, &headers);
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// The index in [`LANGUAGES`] of a tag's primary language (`fr-CA` is French).
fn language_index(tag: &str) -> Option<usize> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    LANGUAGES.iter().position(|(code, _, _)| *code == primary)
}

fn cookie_language(headers: &HeaderMap) -> Option<usize> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == LANGUAGE_COOKIE).then(|| language_index(value)).flatten()
    })
}

/// The best language `Accept-Language` asks for among ours (by `q`, then order), else English.
fn accepted_language(headers: &HeaderMap) -> usize {
    let mut best: Option<(f32, usize)> = None;
    for (tag, q) in crate::http::weighted(headers, header::ACCEPT_LANGUAGE) {
        let Some(language) = language_index(&tag) else { continue };
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, language));
        }
    }
    best.map_or(0, |(_, language)| language)
}

/// Every page in every language, rendered once, and every asset, each also gzipped once.
struct Rendered {
    pages: HashMap<(Page, usize), Encoded>,
    /// In the order of [`ASSETS`].
    assets: Vec<Encoded>,
}

/// A body as it is and gzipped: a phone on a slow connection gets a third of the bytes.
struct Encoded {
    plain: axum::body::Bytes,
    gzip: axum::body::Bytes,
}

impl Encoded {
    fn new(plain: Vec<u8>) -> Encoded {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        // Writing to a Vec cannot fail.
        let gzip = encoder.write_all(&plain).and_then(|()| encoder.finish()).unwrap_or_default();
        Encoded { plain: plain.into(), gzip: gzip.into() }
    }

    /// The body gzipped when the request accepts it, else as it is.
    fn respond(&self, content_type: &'static str, headers: &HeaderMap) -> Response {
        if accepts_gzip(headers) && !self.gzip.is_empty() {
            let encoding = (header::CONTENT_ENCODING, "gzip");
            ([(header::CONTENT_TYPE, content_type), encoding], self.gzip.clone()).into_response()
        } else {
            ([(header::CONTENT_TYPE, content_type)], self.plain.clone()).into_response()
        }
    }
}

/// Whether `Accept-Encoding` takes gzip (by name or `*`, with a `q` above 0).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    crate::http::weighted(headers, header::ACCEPT_ENCODING)
        .iter()
        .any(|(name, q)| (name == "gzip" || name == "*") && *q > 0.0)
}

fn rendered() -> &'static Rendered {
    static RENDERED: OnceLock<Rendered> = OnceLock::new();
    RENDERED.get_or_init(|| {
        let version = asset_version();
        let mut pages = HashMap::new();
        for (language, source) in DICTIONARIES.iter().enumerate() {
            // The dictionaries are compiled in and checked by the tests: a bad one is a build defect.
            let words: HashMap<String, String> =
                serde_json::from_str(source).unwrap_or_else(|e| panic!("i18n/{}.json: {e}", LANGUAGES[language].0));
            for page in Page::ALL {
                let html = render(page, language, &words, &version)
                    .unwrap_or_else(|e| panic!("{:?} in {}: {e}", page, LANGUAGES[language].0));
                pages.insert((page, language), Encoded::new(html.into_bytes()));
            }
        }
        let assets = ASSETS.iter().map(|a| Encoded::new(a.body.to_vec())).collect();
        Rendered { pages, assets }
    })
}

/// A short hash of every asset, so a new build's pages load its own scripts and styles.
fn asset_version() -> String {
    // FNV-1a: stable across builds and platforms, which `DefaultHasher` does not promise.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for asset in &ASSETS {
        for byte in asset.body {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{:08x}", hash >> 32)
}

/// Fills a page's template: `{{key}}` with the language's words (HTML-escaped), and the few
/// names the code provides (`top`, `lang`, `dir`, `version`, `page.name`, `page.title`,
/// `languages`, `presets`, `i18n`).
fn render(page: Page, language: usize, words: &HashMap<String, String>, version: &str) -> Result<String, String> {
    let (code, _, dir) = LANGUAGES[language];
    let (name, title) = page.name_and_title();
    let template = page.template().replace("{{top}}", TOP);
    let word = |key: &str| words.get(key).map(|w| escape(w)).ok_or_else(|| format!("no words for `{key}`"));
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").ok_or("a `{{` without its `}}`")? + start;
        let key = rest[start + 2..end].trim();
        match key {
            "lang" => out.push_str(code),
            "dir" => out.push_str(dir),
            "version" => out.push_str(version),
            "page.name" => out.push_str(name),
            "page.title" => out.push_str(&word(title)?),
            "languages" => out.push_str(&switcher(page, language)),
            // Preset names are identifiers (`hxl`, `iom-dtm`), the same in every language.
            "presets" => out.extend(
                connectors::mapping::PRESETS
                    .iter()
                    .map(|(name, _)| format!(r#"<option value="{name}">{name}</option>"#)),
            ),
            "nav.current.dashboard" => out.push_str(if page == Page::Dashboard { "page" } else { "false" }),
            "nav.current.register" => out.push_str(if page == Page::Register { "page" } else { "false" }),
            // A JSON string inside <script type="application/json">: `<` escaped so that no `</script>`
            // can end it early.
            "i18n" => out.push_str(&serde_json::to_string(words).map_err(|e| e.to_string())?.replace('<', "\\u003c")),
            _ => out.push_str(&word(key)?),
        }
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The language switcher: each language in its own name, the current one marked.
fn switcher(page: Page, current: usize) -> String {
    LANGUAGES
        .iter()
        .enumerate()
        .map(|(i, (code, name, _))| {
            let here = if i == current { r#" aria-current="true""# } else { "" };
            format!(
                r#"<li><a href="{}?lang={code}" lang="{code}" hreflang="{code}"{here}>{name}</a></li>"#,
                page.path()
            )
        })
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(language: usize) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(DICTIONARIES[language]).expect("valid JSON")
    }

    #[test]
    fn every_language_has_every_word_with_the_same_placeholders() {
        let english = words(0);
        let placeholders = |s: &str| {
            let mut found: Vec<String> =
                s.split('{').skip(1).filter_map(|p| p.split_once('}')).map(|(k, _)| k.into()).collect();
            found.sort();
            found
        };
        for (language, (code, _, _)) in LANGUAGES.iter().enumerate().skip(1) {
            let other = words(language);
            let missing: Vec<&String> = english.keys().filter(|k| !other.contains_key(*k)).collect();
            let extra: Vec<&String> = other.keys().filter(|k| !english.contains_key(*k)).collect();
            assert!(missing.is_empty() && extra.is_empty(), "{code}: missing {missing:?}, extra {extra:?}");
            for (key, value) in &other {
                let value = value.as_str().unwrap_or_else(|| panic!("{code}: `{key}` is not a string"));
                assert!(!value.trim().is_empty(), "{code}: `{key}` is empty");
                let english_value = english[key].as_str().unwrap();
                assert_eq!(placeholders(value), placeholders(english_value), "{code}: `{key}` placeholders");
            }
        }
    }

    #[test]
    fn every_page_renders_in_every_language_with_nothing_left_unfilled() {
        for (language, (code, _, dir)) in LANGUAGES.iter().enumerate() {
            for page in Page::ALL {
                let html = std::str::from_utf8(&rendered().pages[&(page, language)].plain).unwrap().to_string();
                assert!(!html.contains("{{"), "{page:?} in {code} left a placeholder");
                assert!(html.contains(&format!(r#"<html lang="{code}" dir="{dir}">"#)), "{page:?} in {code}");
            }
        }
    }

    #[test]
    fn the_language_comes_from_the_query_then_the_cookie_then_accept_language() {
        let mut headers = HeaderMap::new();
        assert_eq!(accepted_language(&headers), 0);
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("de-DE, ar;q=0.8, fr-CA;q=0.9"));
        assert_eq!(accepted_language(&headers), 1, "French, asked for more than Arabic");
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("ru;q=0, es"));
        assert_eq!(accepted_language(&headers), 2, "q=0 refuses Russian");
        headers.insert(header::COOKIE, HeaderValue::from_static("other=1; tributary_lang=ar"));
        let mut encodings = HeaderMap::new();
        assert!(!accepts_gzip(&encodings));
        encodings.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("br, gzip;q=0.5"));
        assert!(accepts_gzip(&encodings));
        encodings.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0, deflate"));
        assert!(!accepts_gzip(&encodings), "q=0 refuses gzip");
        assert_eq!(cookie_language(&headers), Some(3));
        assert_eq!(language_index("RU"), Some(4));
        assert_eq!(language_index("de"), None);
    }
}
