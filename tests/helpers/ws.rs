//! A real GraphQL-over-WebSocket client for the tests (tokio-tungstenite), speaking either
//! protocol. Every wait has a timeout, so a missing message fails the test instead of hanging it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::TestApp;

/// Longest a test waits for one message.
pub const WAIT: Duration = Duration::from_secs(30);

/// The two protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws`.
    TransportWs,
    /// The legacy `graphql-ws` (subscriptions-transport-ws).
    Legacy,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::Legacy => "graphql-ws",
        }
    }
}

/// One connection.
pub struct WsClient {
    pub protocol: Protocol,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What the server sent, as a frame.
#[derive(Debug)]
pub enum Frame {
    /// A protocol message.
    Json(Value),
    /// A WebSocket ping.
    Ping,
    /// The server closed the connection with this code and reason.
    Closed(u16, String),
}

impl WsClient {
    /// Connects to `/graphql/ws` without initialising.
    pub async fn open(app: &TestApp, protocol: Protocol) -> WsClient {
        WsClient::open_with(app, protocol, None).await
    }

    /// Connects with the socket's receive buffer set to `receive_buffer` bytes (a client on a
    /// slow link, or one that stops reading, fills it quickly).
    pub async fn open_with(app: &TestApp, protocol: Protocol, receive_buffer: Option<u32>) -> WsClient {
        WsClient::open_at(app.address, protocol, receive_buffer).await
    }

    /// Connects to `/graphql/ws` of the hub at `address` without initialising.
    pub async fn open_at(address: std::net::SocketAddr, protocol: Protocol, receive_buffer: Option<u32>) -> WsClient {
        let mut request = format!("ws://{address}/graphql/ws").into_client_request().unwrap();
        request.headers_mut().insert("Sec-WebSocket-Protocol", protocol.name().parse().unwrap());
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(size) = receive_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let stream = socket.connect(address).await.expect("TCP connects");
        let (socket, response) =
            tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream)).await.expect("WebSocket connects");
        assert_eq!(
            response.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok()),
            Some(protocol.name()),
            "the server speaks the protocol asked for"
        );
        WsClient { protocol, socket }
    }

    /// Connects and sends `connection_init` with `payload`, expecting `connection_ack`.
    pub async fn connect(app: &TestApp, protocol: Protocol, payload: Value) -> WsClient {
        WsClient::connect_with(app, protocol, payload, None).await
    }

    /// As [`WsClient::connect`], with a receive buffer of `receive_buffer` bytes.
    pub async fn connect_with(
        app: &TestApp,
        protocol: Protocol,
        payload: Value,
        receive_buffer: Option<u32>,
    ) -> WsClient {
        WsClient::init(WsClient::open_with(app, protocol, receive_buffer).await, payload).await
    }

    /// Connects to the hub at `address` and initialises with `payload`.
    pub async fn connect_at(address: std::net::SocketAddr, protocol: Protocol, payload: Value) -> WsClient {
        WsClient::init(WsClient::open_at(address, protocol, None).await, payload).await
    }

    async fn init(mut client: WsClient, payload: Value) -> WsClient {
        client.send(json!({ "type": "connection_init", "payload": payload })).await;
        let ack = client.message().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    /// Sends a protocol message.
    pub async fn send(&mut self, message: Value) {
        self.socket.send(Message::Text(message.to_string().into())).await.expect("send");
    }

    /// Starts operation `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = match self.protocol {
            Protocol::TransportWs => "subscribe",
            Protocol::Legacy => "start",
        };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } })).await;
    }

    /// Stops operation `id`.
    pub async fn stop(&mut self, id: &str) {
        let kind = match self.protocol {
            Protocol::TransportWs => "complete",
            Protocol::Legacy => "stop",
        };
        self.send(json!({ "id": id, "type": kind })).await;
    }

    /// The next frame (pongs skipped; the client library answers pings itself).
    pub async fn frame(&mut self) -> Frame {
        loop {
            let message = tokio::time::timeout(WAIT, self.socket.next()).await.expect("a message within the wait");
            match message {
                Some(Ok(Message::Text(text))) => return Frame::Json(serde_json::from_str(&text).expect("JSON")),
                Some(Ok(Message::Ping(_))) => return Frame::Ping,
                Some(Ok(Message::Close(frame))) => {
                    return frame
                        .map(|f| Frame::Closed(f.code.into(), f.reason.to_string()))
                        .unwrap_or(Frame::Closed(1005, String::new()))
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Frame::Closed(1006, e.to_string()),
                None => return Frame::Closed(1006, "stream ended".into()),
            }
        }
    }

    /// The next protocol message, skipping pings and the legacy keep-alive; within the wait in
    /// all, so a server that only pings does not keep a test waiting for ever.
    pub async fn message(&mut self) -> Value {
        let wait = async {
            loop {
                match self.frame().await {
                    Frame::Json(v) if v["type"] == "ka" => continue,
                    Frame::Json(v) => return v,
                    Frame::Ping => continue,
                    Frame::Closed(code, reason) => panic!("the server closed the connection: {code} {reason}"),
                }
            }
        };
        tokio::time::timeout(WAIT, wait).await.expect("a protocol message within the wait")
    }

    /// The payload of the next `next` (or legacy `data`) message for operation `id`.
    pub async fn next_payload(&mut self, id: &str) -> Value {
        let message = self.message().await;
        let kind = match self.protocol {
            Protocol::TransportWs => "next",
            Protocol::Legacy => "data",
        };
        assert_eq!(message["type"], kind, "{message}");
        assert_eq!(message["id"], id, "{message}");
        message["payload"].clone()
    }

    /// The `changes` event of the next message for `id`, failing on errors.
    pub async fn next_change(&mut self, id: &str) -> Value {
        let payload = self.next_payload(id).await;
        assert!(payload.get("errors").is_none(), "unexpected errors: {payload}");
        payload["data"]["changes"].clone()
    }
}
