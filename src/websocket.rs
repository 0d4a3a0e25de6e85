//! GraphQL over WebSocket at `/graphql/ws`: `graphql-transport-ws` and the legacy `graphql-ws`
//! protocol, on async-graphql's protocol state machine with our own connection loop, because its
//! service sends no keep-alive pings and bounds nothing. Here:
//!
//! - the token comes from `connection_init` (`{"Authorization": "Bearer …"}`, or `{"token": …}`),
//!   else from the upgrade request's `Authorization` header, else the viewer is anonymous;
//! - the server pings every `subscriptions.ping_secs` (WebSocket pings, plus `ka` messages on the
//!   legacy protocol) and drops a client that answers nothing for three intervals;
//! - buffers are small and bounded, incoming messages are capped at `max_message_bytes`, a
//!   connection runs at most `max_operations` operations, mutations are refused (send them to
//!   `/graphql`, where they are rate-limited and audited);
//! - a client that does not read what it is sent within `send_timeout_secs` is told (close code
//!   4008, when the socket still takes it) and disconnected; it resumes from its last cursor.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::{ClientMessage, WebSocket as GraphQLWebSocket, WebSocketProtocols as Protocols, WsMessage};
use async_graphql::{Data, Executor};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::BoxStream;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::graphql::{self, Session, TributarySchema};
use crate::http::AppState;
use crate::model::{secret_hash, Viewer};
use crate::store::Store;

/// Longest a client has to send `connection_init` after connecting (three pings when shorter).
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs operations for a WebSocket connection: async-graphql's schema, with every error given a
/// code as on `/graphql`.
#[derive(Clone)]
struct CodedExecutor(TributarySchema);

impl Executor for CodedExecutor {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        let mut response = self.0.execute(request).await;
        response.errors.iter_mut().for_each(graphql::assign_code);
        response
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        self.0
            .execute_stream_with_session_data(request, session_data.unwrap_or_default())
            .map(|mut response| {
                response.errors.iter_mut().for_each(graphql::assign_code);
                response
            })
            .boxed()
    }
}

/// The upgrade: picks the protocol (graphql-transport-ws when the client names none).
pub async fn upgrade(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(wait) = state.address_limiter.check(&client.ip().to_string()) {
        let mut response =
            (StatusCode::TOO_MANY_REQUESTS, format!("too many requests; try again in {} s\n", wait.as_secs()))
                .into_response();
        response.headers_mut().insert(header::RETRY_AFTER, wait.as_secs().into());
        return response;
    }
    let offered = headers.get(header::SEC_WEBSOCKET_PROTOCOL).is_some();
    let ws = ws.protocols(["graphql-transport-ws", "graphql-ws"]);
    let protocol = match ws.selected_protocol().and_then(|p| p.to_str().ok()) {
        Some("graphql-ws") => Protocols::SubscriptionsTransportWS,
        Some(_) => Protocols::GraphQLWS,
        None if !offered => Protocols::GraphQLWS,
        None => {
            return (
                StatusCode::BAD_REQUEST,
                "unsupported WebSocket subprotocol: use graphql-transport-ws (or the legacy graphql-ws)\n",
            )
                .into_response()
        }
    };
    // A client that cannot set `connection_init` (or prefers headers) may authenticate here.
    let header_secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::http::bearer_secret)
        .map(str::to_string);
    let limits = &state.settings.subscriptions;
    let max_message = limits.max_message_bytes;
    ws.read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(max_message.max(64 * 1024) * 4)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| serve(socket, protocol, state, header_secret))
}

/// The token secret a `connection_init` payload carries: `Authorization` (any case, with or
/// without `Bearer`), `token`, or either inside `headers`.
fn payload_secret(payload: &serde_json::Value) -> Option<String> {
    let object = payload.as_object()?;
    for (key, value) in object {
        match (key.to_ascii_lowercase().as_str(), value) {
            ("authorization" | "token", serde_json::Value::String(s)) => {
                return Some(crate::http::bearer_secret(s).unwrap_or(s.trim()).to_string()).filter(|s| !s.is_empty())
            }
            ("headers", nested) => {
                if let Some(secret) = payload_secret(nested) {
                    return Some(secret);
                }
            }
            _ => {}
        }
    }
    None
}

/// The connection's context: who it is, from `connection_init` or the upgrade's header.
async fn connection_data(
    store: Arc<dyn Store>,
    payload: serde_json::Value,
    header_secret: Option<String>,
    recheck: Duration,
) -> async_graphql::Result<Data> {
    let mut data = Data::default();
    let viewer = match payload_secret(&payload).or(header_secret) {
        None => Viewer::Anonymous,
        Some(secret) => {
            let hash = secret_hash(&secret);
            match store.authenticate(&hash).await {
                Ok(Some(viewer)) => {
                    data.insert(Session { secret_hash: hash, recheck });
                    viewer
                }
                Ok(None) => return Err(async_graphql::Error::new("UNAUTHENTICATED: the token is unknown or revoked")),
                Err(e) => {
                    tracing::error!(error = %e, "could not look up a token");
                    return Err(async_graphql::Error::new("INTERNAL: the hub could not check the token"));
                }
            }
        }
    };
    data.insert(graphql::Request::for_connection(store, viewer));
    Ok(data)
}

/// An `error` message refusing operation `id`.
fn refusal(protocol: Protocols, id: &str, code: &str, message: &str) -> String {
    let error = serde_json::json!({ "message": message, "extensions": { "code": code } });
    let payload = match protocol {
        Protocols::GraphQLWS => serde_json::json!([error]),
        Protocols::SubscriptionsTransportWS => error,
    };
    serde_json::json!({ "type": "error", "id": id, "payload": payload }).to_string()
}

/// The id of an operation a server message ends, if it ends one.
fn ended_operation(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Outgoing {
        #[serde(rename = "type")]
        kind: String,
        id: Option<String>,
    }
    let message: Outgoing = serde_json::from_str(text).ok()?;
    matches!(message.kind.as_str(), "complete" | "error").then_some(message.id).flatten()
}

/// Serves one connection until either side ends it.
async fn serve(socket: WebSocket, protocol: Protocols, state: AppState, header_secret: Option<String>) {
    let limits = state.settings.subscriptions.clone();
    let send_timeout = Duration::from_secs(limits.send_timeout_secs.max(1));
    let ping_every = Duration::from_secs(limits.ping_secs.max(1));
    let recheck = Duration::from_secs(limits.recheck_token_secs);
    let (mut sink, mut incoming) = socket.split();
    // Messages the protocol has not read yet. It reads them as they come, except while it answers
    // `connection_init` or a ping; a client that sends this many more meanwhile is cut off rather
    // than left to block this loop (which would stop pings and replies alike).
    let (to_protocol, from_client) = mpsc::channel::<serde_json::Result<ClientMessage>>(32);
    let store = Arc::clone(&state.store);
    let mut protocol_messages = GraphQLWebSocket::from_message_stream(
        CodedExecutor(state.schema.clone()),
        tokio_stream_from(from_client),
        protocol,
    )
    .on_connection_init(move |payload| connection_data(store, payload, header_secret, recheck));

    let mut operations: HashSet<String> = HashSet::new();
    let mut heard_at = Instant::now();
    let mut acknowledged = false;
    let connected_at = Instant::now();
    let mut pings = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let close = |code: u16, reason: &str| Message::Close(Some(CloseFrame { code, reason: reason.to_string().into() }));

    loop {
        let outgoing: Message = tokio::select! {
            message = incoming.next() => {
                heard_at = Instant::now();
                let message = match message {
                    Some(Ok(Message::Text(text))) => ClientMessage::from_bytes(text.as_bytes()),
                    Some(Ok(Message::Binary(bytes))) => ClientMessage::from_bytes(&bytes),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(e)) => {
                        // Too large a message, or a broken frame.
                        tracing::debug!(error = %e, "WebSocket read failed");
                        let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close(1009, "message too large or malformed"))).await;
                        break;
                    }
                };
                if let Ok(ClientMessage::Start { id, payload }) = &message {
                    use async_graphql::parser::types::OperationType;
                    // Queries and mutations go to /graphql, where they are rate-limited, timed and
                    // (mutations) audited; a request that does not parse is left to the protocol,
                    // which reports the syntax error.
                    let kind = graphql::operation_type(payload);
                    let refused = if kind.is_some_and(|k| k != OperationType::Subscription) {
                        Some(("BAD_USER_INPUT", "only subscriptions run here; send queries and mutations to /graphql".to_string()))
                    } else if operations.len() >= limits.max_operations && !operations.contains(id) {
                        Some(("BAD_USER_INPUT", format!("at most {} operations may run on one connection", limits.max_operations)))
                    } else {
                        None
                    };
                    if let Some((code, text)) = refused {
                        Message::Text(refusal(protocol, id, code, &text).into())
                    } else {
                        operations.insert(id.clone());
                        match to_protocol.try_send(message) {
                            Ok(()) => continue,
                            Err(mpsc::error::TrySendError::Full(_)) => close(4429, "too many messages at once"),
                            Err(mpsc::error::TrySendError::Closed(_)) => break,
                        }
                    }
                } else {
                    if let Ok(ClientMessage::Stop { id }) = &message {
                        operations.remove(id);
                    }
                    match to_protocol.try_send(message) {
                        Ok(()) => continue,
                        Err(mpsc::error::TrySendError::Full(_)) => close(4429, "too many messages at once"),
                        Err(mpsc::error::TrySendError::Closed(_)) => break,
                    }
                }
            }
            message = protocol_messages.next() => match message {
                Some(WsMessage::Text(text)) => {
                    if let Some(id) = ended_operation(&text) {
                        operations.remove(&id);
                    }
                    acknowledged |= text.contains("\"connection_ack\"");
                    Message::Text(text.into())
                }
                Some(WsMessage::Close(code, reason)) => {
                    // graphql-transport-ws closes refused connections with 4403 Forbidden.
                    let code = if reason.starts_with("UNAUTHENTICATED") && protocol == Protocols::GraphQLWS { 4403 } else { code };
                    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close(code, &reason))).await;
                    break;
                }
                None => break,
            },
            _ = pings.tick() => {
                if !acknowledged && connected_at.elapsed() >= INIT_TIMEOUT.min(ping_every * 3) {
                    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close(4408, "Connection initialisation timeout"))).await;
                    break;
                }
                if heard_at.elapsed() >= ping_every * 3 {
                    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close(4408, "no answer to pings"))).await;
                    break;
                }
                if acknowledged && protocol == Protocols::SubscriptionsTransportWS {
                    // The legacy protocol's keep-alive, which its clients watch for.
                    if tokio::time::timeout(send_timeout, sink.send(Message::Text(r#"{"type":"ka"}"#.into()))).await.is_err() {
                        break;
                    }
                }
                Message::Ping(axum::body::Bytes::new())
            }
        };
        let closing = matches!(outgoing, Message::Close(_));
        match tokio::time::timeout(send_timeout, sink.send(outgoing)).await {
            Ok(Ok(())) if closing => break,
            Ok(Ok(())) => {}
            Ok(Err(_)) => break,
            Err(_) => {
                // The client reads too slowly: tell it, if it still takes anything, and go.
                let reason = "too slow: resume from your last cursor";
                let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close(4008, reason))).await;
                tracing::info!("disconnected a WebSocket client that did not read what it was sent");
                break;
            }
        }
    }
}

/// A stream over a channel's receiver.
fn tokio_stream_from<T: Send + 'static>(mut receiver: mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}
