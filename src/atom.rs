//! Atom out: `/feeds/changes.atom` (the change log, filtered by query parameters) and
//! `/feeds/digest.atom` (a network's digest per period), so a focal point follows its network in
//! any feed reader or Outlook with nothing to install. PUBLIC items unless a READER token is given
//! as `?token=` (feed readers cannot send headers); such URLs are never logged — the request log
//! records paths only.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use crate::access;
use crate::digest::{self, Digest, Period};
use crate::http::AppState;
use crate::model::{Category, Change, ChangeKind, CountryCode, Item, OrgId, TokenRole, Viewer};
use crate::store::{ChangeFilter, Store, StoreError};

/// Entries per page by default, and at most.
const DEFAULT_ENTRIES: usize = 50;
const MAX_ENTRIES: usize = 100;

/// Digest periods an Atom digest lists: the current one (so far) and the three before it.
const DIGEST_PERIODS: usize = 4;

/// A refusal, as plain text.
fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    let mut body = message.into();
    body.push('\n');
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// Query parameters, each possibly repeated or comma-separated.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(uri: &Uri, known: &[&str]) -> Result<Params, String> {
        let mut out = Vec::new();
        for (key, value) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
            if !known.contains(&key.as_ref()) {
                return Err(format!("unknown parameter `{key}`; known: {}", known.join(", ")));
            }
            for part in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                out.push((key.to_string(), part.to_string()));
            }
        }
        Ok(Params(out))
    }

    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn one<'a>(&'a self, key: &'a str) -> Result<Option<&'a str>, String> {
        let mut values = self.all(key);
        let first = values.next();
        if values.next().is_some() {
            return Err(format!("give `{key}` once"));
        }
        Ok(first)
    }

    /// The query string again, without `drop`, and with `set` added.
    fn link(&self, base: &str, path: &str, drop: &[&str], set: &[(&str, String)]) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            if !drop.contains(&k.as_str()) {
                query.append_pair(k, v);
            }
        }
        for (k, v) in set {
            query.append_pair(k, v);
        }
        let query = query.finish();
        if query.is_empty() {
            format!("{base}{path}")
        } else {
            format!("{base}{path}?{query}")
        }
    }
}

/// Who a feed request is made as: a READER token from `?token=`, else the `Authorization`
/// header's token, else anonymous.
async fn viewer(state: &AppState, params: &Params, headers: &HeaderMap) -> Result<Viewer, Response> {
    let from_url = params.one("token").map_err(|m| refuse(StatusCode::BAD_REQUEST, m))?;
    let from_header =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(crate::http::bearer_secret);
    let Some(secret) = from_url.or(from_header) else { return Ok(Viewer::Anonymous) };
    let viewer = match state.store.authenticate(&crate::model::secret_hash(secret)).await {
        Ok(Some(viewer)) => viewer,
        Ok(None) => return Err(refuse(StatusCode::UNAUTHORIZED, "the token is unknown or revoked")),
        Err(e) => {
            tracing::error!(error = %e, "could not look up a feed token");
            return Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, "the hub could not check the token"));
        }
    };
    if from_url.is_some() {
        if let Viewer::Token { token, .. } = &viewer {
            if token.role != TokenRole::Reader {
                // A URL ends up in feed readers, histories and proxies: only a read-only token
                // belongs there.
                return Err(refuse(
                    StatusCode::FORBIDDEN,
                    "only READER tokens may be put in a feed URL; ask an admin for a READER token for your feed reader",
                ));
            }
        }
    }
    Ok(viewer)
}

/// Where links point: `api.public_url`, else the request's host.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.settings.api.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}")
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn category_label(category: Category) -> &'static str {
    match category {
        Category::RouteChange => "Route change",
        Category::RegulatoryChange => "Regulatory change",
        Category::Return => "Return",
        Category::Funding => "Funding",
        Category::CivilSociety => "Civil society",
        Category::Study => "Study",
        Category::Programme => "Programme",
        Category::Needs => "Needs",
        Category::Meeting => "Meeting",
        Category::Other => "Other",
    }
}

/// Answers with an Atom document, or 304 when the reader has it already.
fn atom_response(body: String, headers: &HeaderMap, private: bool) -> Response {
    use sha2::{Digest as _, Sha256};
    let etag = format!("\"{}\"", &hex(&Sha256::digest(body.as_bytes()))[..32]);
    let cache = if private { "private, max-age=60" } else { "public, max-age=60" };
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")], body).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    response
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn internal(e: StoreError) -> Response {
    tracing::error!(error = %e, "store error while serving an Atom feed");
    refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

/// Organisation names by id.
async fn names(store: &dyn Store, ids: Vec<OrgId>) -> Result<HashMap<OrgId, String>, StoreError> {
    let mut ids = ids;
    ids.sort();
    ids.dedup();
    Ok(store.organisations_by_ids(&ids).await?.into_iter().map(|o| (o.id, o.name_en)).collect())
}

/// Refuses an address over its request limit (feed readers share the GraphQL endpoint's).
fn limited(state: &AppState, client: std::net::SocketAddr) -> Option<Response> {
    let wait = state.address_limiter.check(&client.ip().to_string()).err()?;
    let mut response =
        refuse(StatusCode::TOO_MANY_REQUESTS, format!("too many requests; try again in {} s", wait.as_secs()));
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
    Some(response)
}

/// `/feeds/changes.atom`.
pub async fn changes(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(response) = limited(&state, client) {
        return response;
    }
    const KNOWN: [&str; 10] =
        ["network", "society", "country", "category", "language", "kind", "backfill", "before", "limit", "token"];
    let params = match Params::parse(&uri, &KNOWN) {
        Ok(p) => p,
        Err(m) => return refuse(StatusCode::BAD_REQUEST, m),
    };
    let filter = match change_filter(&params) {
        Ok(f) => f,
        Err(m) => return refuse(StatusCode::BAD_REQUEST, m),
    };
    let (before, limit) = match paging(&params) {
        Ok(p) => p,
        Err(m) => return refuse(StatusCode::BAD_REQUEST, m),
    };
    let viewer = match viewer(&state, &params, &headers).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let scope = access::scope(&viewer);
    let store = state.store.as_ref();
    let changes = match store.latest_changes(&scope, &filter, before, limit).await {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    let ids: Vec<_> = changes.iter().map(|c| c.item.clone()).collect();
    let items: HashMap<_, Item> = match store.items_by_ids(&scope, &ids).await {
        Ok(items) => items.into_iter().map(|i| (i.id.clone(), i)).collect(),
        Err(e) => return internal(e),
    };
    let owners = match names(store, items.values().map(|i| i.organisation.clone()).collect()).await {
        Ok(n) => n,
        Err(e) => return internal(e),
    };
    let base = base_url(&state, &headers);
    let page = Page { params: &params, base: &base, path: "/feeds/changes.atom", full: changes.len() == limit };
    let body = render_changes(&page, &filter, &changes, &items, &owners);
    atom_response(body, &headers, !matches!(viewer, Viewer::Anonymous))
}

fn change_filter(params: &Params) -> Result<ChangeFilter, String> {
    let codes = |key: &str| -> Result<Vec<CountryCode>, String> {
        params.all(key).map(|c| CountryCode::parse(c).map_err(|e| format!("{e} (`{key}`)"))).collect()
    };
    let categories = params
        .all("category")
        .map(|c| c.to_ascii_uppercase().parse::<Category>().map_err(|_| format!("`{c}` is not a category")))
        .collect::<Result<Vec<_>, _>>()?;
    let kinds = params
        .all("kind")
        .map(|k| k.to_ascii_uppercase().parse::<ChangeKind>().map_err(|_| format!("`{k}` is not a change kind")))
        .collect::<Result<Vec<_>, _>>()?;
    let include_backfill = match params.one("backfill")? {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(format!("`backfill` is true or false, not `{other}`")),
    };
    let languages = params
        .all("language")
        .map(|l| connectors::lang::canonical_tag(l).ok_or_else(|| format!("`{l}` is not a language tag")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ChangeFilter {
        networks: params.all("network").map(str::to_string).collect(),
        societies: codes("society")?,
        countries: codes("country")?,
        categories,
        languages,
        kinds,
        include_backfill,
        since: None,
        include_duplicates: false,
    })
}

fn paging(params: &Params) -> Result<(Option<i64>, usize), String> {
    let before = match params.one("before")? {
        Some(b) => Some(b.parse::<i64>().map_err(|_| format!("`before` is a change sequence number, not `{b}`"))?),
        None => None,
    };
    let limit = match params.one("limit")? {
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_ENTRIES).contains(&n) => n,
            _ => return Err(format!("`limit` is a number from 1 to {MAX_ENTRIES}")),
        },
        None => DEFAULT_ENTRIES,
    };
    Ok((before, limit))
}

struct Page<'a> {
    params: &'a Params,
    base: &'a str,
    path: &'a str,
    /// The page is full: older entries may follow.
    full: bool,
}

/// What a filter asks for, in words, for the feed's title.
fn describe(filter: &ChangeFilter) -> String {
    let mut what = if filter.categories.is_empty() {
        "Changes".to_string()
    } else {
        filter.categories.iter().map(|c| category_label(*c)).collect::<Vec<_>>().join(", ") + "s"
    };
    let mut scope: Vec<String> = filter.networks.iter().map(|n| n.to_uppercase()).collect();
    scope.extend(filter.countries.iter().map(|c| c.english_name().unwrap_or(c.as_str()).to_string()));
    scope.extend(filter.societies.iter().map(|c| format!("{} society", c.as_str())));
    if !scope.is_empty() {
        let _ = write!(what, " — {}", scope.join(", "));
    }
    what
}

fn render_changes(
    page: &Page<'_>,
    filter: &ChangeFilter,
    changes: &[Change],
    items: &HashMap<crate::model::ItemId, Item>,
    owners: &HashMap<OrgId, String>,
) -> String {
    let mut out = String::with_capacity(2048 + changes.len() * 1024);
    let feed_id = page.params.link("urn:tributary:", "changes", &["token", "before", "limit"], &[]);
    let updated = changes.first().map(|c| c.at).unwrap_or(DateTime::UNIX_EPOCH);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = writeln!(out, "  <id>{}</id>", text(&feed_id));
    let _ = writeln!(out, "  <title>Tributary: {}</title>", text(&describe(filter)));
    let _ = writeln!(out, "  <updated>{}</updated>", time(updated));
    out.push_str("  <author><name>Tributary</name></author>\n");
    let _ = writeln!(out, "  <generator version=\"{}\">Tributary</generator>", env!("CARGO_PKG_VERSION"));
    let link = |rel: &str, href: String| format!("  <link rel=\"{rel}\" href=\"{}\"/>\n", attr(&href));
    out.push_str(&link("self", page.params.link(page.base, page.path, &[], &[])));
    out.push_str(&link("first", page.params.link(page.base, page.path, &["before"], &[])));
    if let (true, Some(last)) = (page.full, changes.last()) {
        out.push_str(&link(
            "next",
            page.params.link(page.base, page.path, &["before"], &[("before", last.sequence.to_string())]),
        ));
    }
    for change in changes {
        let Some(item) = items.get(&change.item) else { continue };
        let prefix = match change.kind {
            ChangeKind::Created => "",
            ChangeKind::Updated => "[Updated] ",
            ChangeKind::Withdrawn => "[Withdrawn] ",
        };
        out.push_str("  <entry>\n");
        let _ = writeln!(out, "    <id>urn:tributary:change:{}:{}</id>", change.sequence, text(&item.id.0));
        let _ = writeln!(out, "    <title type=\"text\">{prefix}{}</title>", text(&item.title));
        let _ = writeln!(out, "    <updated>{}</updated>", time(change.at));
        let _ = writeln!(out, "    <published>{}</published>", time(item.published_at.unwrap_or(item.first_seen_at)));
        let owner = owners.get(&item.organisation).map(String::as_str).unwrap_or(item.organisation.0.as_str());
        let _ = writeln!(out, "    <author><name>{}</name></author>", text(owner));
        if let Some(url) = &item.url {
            let _ = writeln!(out, "    <link rel=\"alternate\" href=\"{}\"/>", attr(url));
        }
        for category in &item.categories {
            let _ = writeln!(
                out,
                "    <category scheme=\"urn:tributary:category\" term=\"{}\" label=\"{}\"/>",
                category.as_str(),
                category_label(*category)
            );
        }
        for mention in &item.countries {
            let _ = writeln!(
                out,
                "    <category scheme=\"urn:iso:std:iso:3166\" term=\"{}\" label=\"{}\"/>",
                mention.code.as_str(),
                attr(mention.code.english_name().unwrap_or(mention.code.as_str()))
            );
        }
        if !item.summary.is_empty() {
            let lang = item.language.as_deref().map(|l| format!(" xml:lang=\"{}\"", attr(l))).unwrap_or_default();
            let _ = writeln!(out, "    <summary type=\"text\"{lang}>{}</summary>", text(&item.summary));
        }
        out.push_str("  </entry>\n");
    }
    out.push_str("</feed>\n");
    out
}

/// `/feeds/digest.atom?network=…&period=week`.
pub async fn digest(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(response) = limited(&state, client) {
        return response;
    }
    let params = match Params::parse(&uri, &["network", "period", "token"]) {
        Ok(p) => p,
        Err(m) => return refuse(StatusCode::BAD_REQUEST, m),
    };
    let network = match params.one("network") {
        Ok(Some(n)) => n.to_string(),
        Ok(None) => {
            return refuse(StatusCode::BAD_REQUEST, "`network` is required (perco, apmn, americas, central-asia, …)")
        }
        Err(m) => return refuse(StatusCode::BAD_REQUEST, m),
    };
    let period = match params.one("period") {
        Ok(None) => Period::Week,
        Ok(Some(p)) => match Period::parse(p) {
            Some(p) => p,
            None => return refuse(StatusCode::BAD_REQUEST, "`period` is day, week or month"),
        },
        Err(m) => return refuse(StatusCode::BAD_REQUEST, m),
    };
    let viewer = match viewer(&state, &params, &headers).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let networks = match state.store.networks().await {
        Ok(n) => n,
        Err(e) => return internal(e),
    };
    let Some(found) = networks.into_iter().find(|n| n.slug == network) else {
        return refuse(StatusCode::NOT_FOUND, format!("no network `{network}`"));
    };
    let scope = access::scope(&viewer);
    let now = Utc::now();
    let mut digests = Vec::with_capacity(DIGEST_PERIODS);
    let mut start = period.start_of(now);
    let mut end = now;
    for _ in 0..DIGEST_PERIODS {
        match digest::digest(state.store.as_ref(), &scope, &network, start, end).await {
            Ok(d) => digests.push(d),
            Err(e) => return internal(e),
        }
        end = start;
        start = period.previous(start);
    }
    let base = base_url(&state, &headers);
    let body = render_digests(&params, &base, &found.name_en, period, now, &digests);
    atom_response(body, &headers, !matches!(viewer, Viewer::Anonymous))
}

fn render_digests(
    params: &Params,
    base: &str,
    network_name: &str,
    period: Period,
    now: DateTime<Utc>,
    digests: &[Digest],
) -> String {
    let mut out = String::with_capacity(4096);
    let network = digests.first().map(|d| d.network.as_str()).unwrap_or_default();
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = writeln!(out, "  <id>urn:tributary:digest:{}:{}</id>", text(network), period.as_str());
    let _ = writeln!(
        out,
        "  <title>{} — {}ly digest</title>",
        text(network_name),
        if period == Period::Day { "dai" } else { period.as_str() }
    );
    let updated = digests
        .iter()
        .filter(|d| d.changes > 0)
        .map(|d| d.highlights.iter().map(|(c, _)| c.at).max().unwrap_or(d.since))
        .max();
    let _ = writeln!(
        out,
        "  <updated>{}</updated>",
        time(updated.unwrap_or(digests.last().map(|d| d.since).unwrap_or(now)))
    );
    out.push_str("  <author><name>Tributary</name></author>\n");
    let _ =
        writeln!(out, "  <link rel=\"self\" href=\"{}\"/>", attr(&params.link(base, "/feeds/digest.atom", &[], &[])));
    for d in digests {
        let current = d.until >= now;
        let label = match period {
            Period::Day => d.since.format("%-d %B %Y").to_string(),
            Period::Week => format!("week of {}", d.since.format("%-d %B %Y")),
            Period::Month => d.since.format("%B %Y").to_string(),
        };
        let counts: Vec<String> = d
            .by_category
            .iter()
            .filter(|(c, _)| matches!(c, Category::RouteChange | Category::RegulatoryChange))
            .map(|(c, n)| format!("{n} {}{}", category_label(*c).to_lowercase(), if *n == 1 { "" } else { "s" }))
            .collect();
        let mut title =
            format!("{network_name}, {label}{}: {} items changed", if current { " (so far)" } else { "" }, d.items);
        if !counts.is_empty() {
            let _ = write!(title, ", {}", counts.join(", "));
        }
        // An entry's time: the last change it counts, so a reader sees the current period update.
        let entry_updated = d.highlights.iter().map(|(c, _)| c.at).max().unwrap_or(d.since);
        out.push_str("  <entry>\n");
        let _ = writeln!(
            out,
            "    <id>urn:tributary:digest:{}:{}:{}</id>",
            text(network),
            period.as_str(),
            d.since.format("%Y-%m-%d")
        );
        let _ = writeln!(out, "    <title type=\"text\">{}</title>", text(&title));
        let _ = writeln!(out, "    <updated>{}</updated>", time(entry_updated));
        let _ = writeln!(out, "    <published>{}</published>", time(d.since));
        let _ = writeln!(out, "    <content type=\"html\">{}</content>", text(&digest_html(d)));
        out.push_str("  </entry>\n");
    }
    out.push_str("</feed>\n");
    out
}

/// A digest as a small HTML fragment (escaped again as the entry's content).
fn digest_html(d: &Digest) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<p>{} changes to {} items from {} to {}.</p>",
        d.changes,
        d.items,
        d.since.format("%Y-%m-%d"),
        d.until.format("%Y-%m-%d %H:%M UTC")
    );
    if !d.highlights.is_empty() {
        html.push_str("<h3>Highlights</h3><ul>");
        for (change, item) in &d.highlights {
            let item: &Arc<Item> = item;
            let categories = item.categories.iter().map(|c| category_label(*c)).collect::<Vec<_>>().join(", ");
            let title = text(&item.title);
            match &item.url {
                Some(url) => {
                    let _ = write!(html, "<li><a href=\"{}\">{title}</a> ({categories}", attr(url));
                }
                None => {
                    let _ = write!(html, "<li>{title} ({categories}");
                }
            }
            if change.kind == ChangeKind::Updated {
                html.push_str(", updated");
            }
            html.push_str(")</li>");
        }
        html.push_str("</ul>");
    }
    if !d.by_category.is_empty() {
        html.push_str("<h3>By category</h3><ul>");
        for (category, n) in &d.by_category {
            let _ = write!(html, "<li>{}: {n}</li>", category_label(*category));
        }
        html.push_str("</ul>");
    }
    if !d.by_country.is_empty() {
        html.push_str("<h3>By country</h3><ul>");
        for (country, n) in d.by_country.iter().take(20) {
            let _ = write!(html, "<li>{}: {n}</li>", text(country.english_name().unwrap_or(country.as_str())));
        }
        html.push_str("</ul>");
    }
    if !d.complete {
        html.push_str("<p>This period had more changes than a digest reads; it summarises the first 20,000.</p>");
    }
    html
}
