//! The HTTP face: `/graphql` following the GraphQL-over-HTTP specification (our own handler:
//! async-graphql-axum's answers 200 whatever `Accept` says and runs mutations sent by GET),
//! `/graphiql`, `/healthz`, `/readyz`, `/metrics`, and the demo's sample feeds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request as HttpRequest, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::config::Settings;
use crate::demo::Demo;
use crate::graphql::{self, TributarySchema};
use crate::metrics::Metrics;
use crate::model::Viewer;
use crate::store::Store;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The schema.
    pub schema: TributarySchema,
    /// The change fan-out that subscriptions follow.
    pub changes: Arc<crate::events::ChangeFeed>,
    /// Response cache keyed on a hash of data version, scope and request, weighed in bytes;
    /// `None` when turned off.
    pub cache: Option<moka::future::Cache<[u8; 32], Bytes>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Settings.
    pub settings: Arc<Settings>,
    /// The demo's sample feeds, in `--demo` mode.
    pub demo: Option<Arc<Demo>>,
    /// Per-token request limits.
    pub limiter: Arc<crate::ratelimit::RateLimiter>,
    /// Per-address limits, checked before a token is looked up (four times the per-token
    /// limit, for addresses many people share), so a flood of bad tokens is stopped too.
    pub address_limiter: Arc<crate::ratelimit::RateLimiter>,
}

/// The router.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/graphql", get(graphql).post(graphql))
        .route("/graphql/ws", get(crate::websocket::upgrade))
        .route("/feeds/changes.atom", get(crate::atom::changes))
        .route("/feeds/digest.atom", get(crate::atom::digest))
        .route("/graphiql", get(graphiql))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    if state.demo.is_some() {
        router = router.route("/demo/feeds/{name}", get(demo_feed));
    }
    let router = router.merge(crate::web::routes());
    router
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(axum::extract::DefaultBodyLimit::max(state.settings.api.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), record_latency))
        .with_state(state)
}

async fn record_latency(State(state): State<AppState>, request: HttpRequest, next: Next) -> Response {
    let route = match request.uri().path() {
        p @ ("/graphql" | "/graphql/ws" | "/graphiql" | "/healthz" | "/readyz" | "/metrics") => p.to_string(),
        p if p.starts_with("/demo/") => "/demo".to_string(),
        p @ ("/feeds/changes.atom" | "/feeds/digest.atom" | "/" | "/register") => p.to_string(),
        p if p.starts_with("/assets/") => "/assets".to_string(),
        _ => "other".to_string(),
    };
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.request(&route, started.elapsed());
    response
}

/// The response media types of the GraphQL-over-HTTP specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    GraphqlResponse,
    Json,
}

impl MediaType {
    fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        })
    }
}

/// The values of a list header (`Accept`, `Accept-Language`, `Accept-Encoding`), in the order
/// sent, each lower-cased with its weight (`q`, 1 when not given).
pub fn weighted(headers: &HeaderMap, name: header::HeaderName) -> Vec<(String, f32)> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|part| {
            let mut params = part.split(';');
            let value = params.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = params.filter_map(|p| p.trim().strip_prefix("q=")).next().and_then(|q| q.parse().ok());
            (value, q.unwrap_or(1.0))
        })
        .collect()
}

/// Picks the response type from `Accept`; `None` when the client accepts neither.
fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    if !headers.contains_key(header::ACCEPT) {
        return Some(MediaType::Json);
    }
    let mut best: Option<(f32, MediaType)> = None;
    for (kind, q) in weighted(headers, header::ACCEPT) {
        let media = match kind.as_str() {
            "application/graphql-response+json" => MediaType::GraphqlResponse,
            "application/json" | "application/*" | "*/*" => MediaType::Json,
            _ => continue,
        };
        if q > 0.0
            && best.is_none_or(|(bq, bm)| q > bq || (q == bq && media == MediaType::GraphqlResponse && bm != media))
        {
            best = Some((q, media));
        }
    }
    best.map(|(_, m)| m)
}

/// A response carrying only errors, with a status and a code.
fn error_response(status: StatusCode, media: MediaType, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, [(header::CONTENT_TYPE, media.header())], body.to_string()).into_response()
}

/// Reads a GET request's parameters.
fn from_query_string(query: &str) -> Result<async_graphql::Request, String> {
    let mut request: Option<async_graphql::Request> = None;
    let mut operation = None;
    let mut variables = None;
    let mut extensions = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "query" => request = Some(async_graphql::Request::new(value.into_owned())),
            "operationName" => operation = Some(value.into_owned()),
            "variables" => variables = Some(value.into_owned()),
            "extensions" => extensions = Some(value.into_owned()),
            _ => {}
        }
    }
    let mut request = request.ok_or("the `query` parameter is required")?;
    if let Some(op) = operation {
        request = request.operation_name(op);
    }
    if let Some(v) = variables {
        let value: serde_json::Value = serde_json::from_str(&v).map_err(|e| format!("`variables` is not JSON: {e}"))?;
        request = request.variables(async_graphql::Variables::from_json(value));
    }
    if let Some(e) = extensions {
        let _: serde_json::Value = serde_json::from_str(&e).map_err(|e| format!("`extensions` is not JSON: {e}"))?;
    }
    Ok(request)
}

/// Whether the operation a request selects is a mutation or subscription (not allowed over GET).
fn selects_non_query(request: &async_graphql::Request) -> bool {
    use async_graphql::parser::types::OperationType;
    // A request that does not parse is executed, which reports the syntax error.
    matches!(graphql::operation_type(request), Some(OperationType::Mutation | OperationType::Subscription))
}

async fn graphql(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<std::net::SocketAddr>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Some(media) = negotiate(&headers) else {
        return error_response(
            StatusCode::NOT_ACCEPTABLE,
            MediaType::Json,
            "BAD_USER_INPUT",
            "acceptable responses are application/graphql-response+json and application/json",
        );
    };
    if let Err(wait) = state.address_limiter.check(&client.ip().to_string()) {
        return rate_limited(media, wait);
    }
    // Authentication is looked up anew for every request, never cached.
    let viewer = match authenticate(&state, &headers).await {
        Ok(viewer) => viewer,
        Err(response) => return response(media),
    };
    let key = match &viewer {
        Viewer::Token { token, .. } => format!("token {}", token.id),
        Viewer::Anonymous => format!("address {}", client.ip()),
    };
    if let Err(wait) = state.limiter.check(&key) {
        return rate_limited(media, wait);
    }
    let request = if method == Method::GET {
        let request = match from_query_string(uri.query().unwrap_or("")) {
            Ok(r) => r,
            Err(m) => return error_response(StatusCode::BAD_REQUEST, media, "BAD_USER_INPUT", &m),
        };
        if selects_non_query(&request) {
            let mut response = error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                media,
                "BAD_USER_INPUT",
                "mutations must be sent with POST",
            );
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        request
    } else {
        let body = match body {
            Ok(body) => body,
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                let limit = state.settings.api.max_body_bytes;
                return error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    media,
                    "PAYLOAD_TOO_LARGE",
                    &format!("the request body is larger than {limit} bytes"),
                );
            }
            Err(rejection) => {
                return error_response(rejection.status(), media, "BAD_USER_INPUT", &rejection.body_text())
            }
        };
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !content_type.to_ascii_lowercase().starts_with("application/json") {
            return error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                media,
                "BAD_USER_INPUT",
                "send the request as application/json",
            );
        }
        if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return execute_batch(&state, media, viewer, &key, &body).await;
        }
        match serde_json::from_slice::<async_graphql::Request>(&body) {
            Ok(r) => r,
            Err(e) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    media,
                    "BAD_USER_INPUT",
                    &format!("invalid request body: {e}"),
                )
            }
        }
    };
    execute(&state, media, viewer, request).await
}

/// The secret of an `Authorization: Bearer …` value (every path that takes a token reads it so).
pub fn bearer_secret(value: &str) -> Option<&str> {
    value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).map(str::trim).filter(|s| !s.is_empty())
}

/// HTTP 429 with RATE_LIMITED and Retry-After.
fn rate_limited(media: MediaType, wait: Duration) -> Response {
    let mut response = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        media,
        "RATE_LIMITED",
        &format!("too many requests; try again in {} s", wait.as_secs()),
    );
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
    response
}

/// The viewer an `Authorization: Bearer …` header stands for (anonymous without one), or the
/// response refusing the request: 401 with UNAUTHENTICATED for a token that is not live.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Viewer, Box<dyn FnOnce(MediaType) -> Response>> {
    let refuse =
        |status: StatusCode, code: &'static str, message: &'static str| -> Box<dyn FnOnce(MediaType) -> Response> {
            Box::new(move |media| {
                let mut response = error_response(status, media, code, message);
                if status == StatusCode::UNAUTHORIZED {
                    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                response
            })
        };
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(Viewer::Anonymous) };
    let secret = value.to_str().ok().and_then(bearer_secret);
    let Some(secret) = secret else {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "send the token as `Authorization: Bearer TOKEN`",
        ));
    };
    match state.store.authenticate(&crate::model::secret_hash(secret)).await {
        Ok(Some(viewer)) => Ok(viewer),
        Ok(None) => Err(refuse(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "the token is unknown or revoked")),
        Err(e) => {
            tracing::error!(error = %e, "could not look up a token");
            Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "the hub could not check the token"))
        }
    }
}

/// A batch (a JSON array of requests), at most `api.max_batch` of them, run one after the other;
/// each after the first counts against the rate limit too. The answer is the array of their
/// responses, with status 200 (each response carries its own errors); batches are not cached.
async fn execute_batch(state: &AppState, media: MediaType, viewer: Viewer, key: &str, body: &[u8]) -> Response {
    let requests: Vec<async_graphql::Request> = match serde_json::from_slice(body) {
        Ok(requests) => requests,
        Err(e) => {
            return error_response(StatusCode::BAD_REQUEST, media, "BAD_USER_INPUT", &format!("invalid batch: {e}"))
        }
    };
    let max = state.settings.api.max_batch;
    if requests.is_empty() {
        return error_response(StatusCode::BAD_REQUEST, media, "BAD_USER_INPUT", "the batch is empty");
    }
    if requests.len() > max {
        return error_response(
            StatusCode::BAD_REQUEST,
            media,
            "BATCH_TOO_LARGE",
            &format!("a batch holds at most {max} operations (api.max_batch); this one holds {}", requests.len()),
        );
    }
    for _ in 1..requests.len() {
        if let Err(wait) = state.limiter.check(key) {
            return rate_limited(media, wait);
        }
    }
    let timeout = Duration::from_secs(state.settings.api.timeout_secs);
    let mut responses = Vec::with_capacity(requests.len());
    for request in requests {
        responses
            .push(graphql::execute(&state.schema, Arc::clone(&state.store), viewer.clone(), request, timeout).await);
    }
    let body = serde_json::to_vec(&responses).unwrap_or_else(|_| b"[]".to_vec());
    (StatusCode::OK, [(header::CONTENT_TYPE, media.header())], body).into_response()
}

async fn execute(state: &AppState, media: MediaType, viewer: Viewer, request: async_graphql::Request) -> Response {
    let scope = crate::access::scope(&viewer);
    // The data version is read before executing: a write that lands meanwhile bumps it, so the
    // next reader never gets this (possibly older) result.
    // Mutations are never answered from the cache, nor cached.
    let cacheable = !selects_non_query(&request);
    let key = state.cache.as_ref().filter(|_| cacheable).map(|_| {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [
            state.store.data_version().to_string().as_str(),
            scope.cache_key().as_str(),
            // What `viewer` answers differs from token to token, even within one scope.
            match &viewer {
                Viewer::Token { token, .. } => token.id.to_string(),
                Viewer::Anonymous => String::new(),
            }
            .as_str(),
            request.operation_name.as_deref().unwrap_or(""),
            request.query.as_str(),
            serde_json::to_string(&request.variables).unwrap_or_default().as_str(),
        ] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        h.finalize().into()
    });
    if let (Some(cache), Some(key)) = (&state.cache, &key) {
        if let Some(body) = cache.get(key).await {
            return (StatusCode::OK, [(header::CONTENT_TYPE, media.header())], body).into_response();
        }
    }
    let timeout = Duration::from_secs(state.settings.api.timeout_secs);
    let response = graphql::execute(&state.schema, Arc::clone(&state.store), viewer, request, timeout).await;
    let has_code = |code: &str| {
        response.errors.iter().any(|e| e.extensions.as_ref().and_then(|x| x.get("code")) == Some(&code.into()))
    };
    let timed_out = has_code("TIMEOUT");
    // A request error (it could not be executed at all) has no data and errors without a path.
    let request_error = !timed_out
        && response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let status = match media {
        MediaType::GraphqlResponse if timed_out => StatusCode::GATEWAY_TIMEOUT,
        MediaType::GraphqlResponse if request_error => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    let cacheable = response.errors.is_empty();
    // When execution never started (or never finished), the specification wants no `data` entry.
    let serialised = if request_error || timed_out {
        serde_json::to_vec(&json!({ "errors": response.errors }))
    } else {
        serde_json::to_vec(&response)
    };
    let body = match serialised {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            tracing::error!(error = %e, "could not serialise a response");
            return error_response(StatusCode::INTERNAL_SERVER_ERROR, media, "INTERNAL", "internal error");
        }
    };
    if let (Some(cache), Some(key), true) = (&state.cache, key, cacheable) {
        cache.insert(key, body.clone()).await;
    }
    (status, [(header::CONTENT_TYPE, media.header())], body).into_response()
}

async fn graphiql() -> Html<&'static str> {
    Html(include_str!("graphiql.html"))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    let (mut status, database, migrations) = match state.store.ready().await {
        Ok(true) => (StatusCode::OK, "ok", "applied"),
        Ok(false) => (StatusCode::SERVICE_UNAVAILABLE, "ok", "pending"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "unreachable", "unknown")
        }
    };
    let mut body = json!({ "database": database, "migrations": migrations });
    // On PostgreSQL, a replica whose LISTEN connection is down would miss other replicas'
    // changes until it is back: not ready.
    if let Some(up) = state.store.listener_up() {
        body["listener"] = json!(if up { "ok" } else { "down" });
        if !up {
            status = StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(state.store.query_count(), state.changes.subscribers());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

async fn demo_feed(State(state): State<AppState>, axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match state.demo.as_ref().and_then(|d| d.render(&name)) {
        Some((content_type, body)) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        None => (StatusCode::NOT_FOUND, "no such sample feed\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<MediaType> {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, value.parse().unwrap());
        negotiate(&h)
    }

    #[test]
    fn accept_is_negotiated_as_the_specification_says() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(MediaType::Json));
        assert_eq!(accept("application/graphql-response+json"), Some(MediaType::GraphqlResponse));
        assert_eq!(accept("application/json"), Some(MediaType::Json));
        assert_eq!(
            accept("application/json;q=0.9, application/graphql-response+json"),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(accept("application/graphql-response+json, application/json"), Some(MediaType::GraphqlResponse));
        assert_eq!(accept("*/*"), Some(MediaType::Json));
        assert_eq!(accept("text/html"), None);
    }

    #[test]
    fn get_requests_read_the_query_string() {
        let r = from_query_string("query=%7Bnetworks%7Bslug%7D%7D&variables=%7B%22a%22%3A1%7D").unwrap();
        assert_eq!(r.query, "{networks{slug}}");
        assert!(from_query_string("variables=%7B%7D").is_err());
        assert!(from_query_string("query=x&variables=nope").is_err());
    }

    #[test]
    fn mutations_are_recognised() {
        assert!(selects_non_query(&async_graphql::Request::new("mutation { x }")));
        assert!(!selects_non_query(&async_graphql::Request::new("{ x }")));
        assert!(selects_non_query(&async_graphql::Request::new("query A { x } mutation B { y }").operation_name("B")));
    }
}
