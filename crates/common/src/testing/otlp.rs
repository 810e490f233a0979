//! [`OtlpReceiver`]: a real OTLP/HTTP trace receiver on loopback, for the
//! tests that prove spans leave a service process as a collector would
//! receive them: `POST /v1/traces` with an `ExportTraceServiceRequest` in
//! protobuf, decoded with the `opentelemetry-proto` crate (whose generated
//! code ships in the crate, so nothing runs `protoc`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
/// A span's kind, as OTLP spells it.
pub use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;

/// One span as it arrived: the service it came from (the resource's
/// `service.name`), its name and kind, its ids as lowercase hex (the
/// parent's empty for a root), and its string, integer and boolean
/// attributes as text.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    pub service: String,
    pub name: String,
    pub kind: SpanKind,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub attributes: BTreeMap<String, String>,
}

/// What the receiver has seen.
#[derive(Debug, Default)]
struct Seen {
    spans: Vec<ReceivedSpan>,
    /// Exports it could not take (wrong content type, an encoding it does
    /// not decode, bytes that are not an `ExportTraceServiceRequest`), with
    /// why: a test fails on any.
    refused: Vec<String>,
}

/// An OTLP/HTTP receiver on a free loopback port, for as long as it lives.
pub struct OtlpReceiver {
    /// `http://127.0.0.1:<port>`: the value of `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// (the exporter appends `/v1/traces`).
    pub endpoint: String,
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OtlpReceiver {
    pub async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let app = axum::Router::new()
            .route("/v1/traces", post(export))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind the OTLP receiver on loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("bound address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            endpoint,
            seen,
            task,
        }
    }

    /// Every span received so far, in order of arrival.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.seen.lock().expect("not poisoned").spans.clone()
    }

    /// Polls (every 100 ms, for at most `bound`: a sanity bound, far above
    /// what an export should take) until `done` holds of the spans
    /// received, and returns them; the spans received by then if it never
    /// does. Panics at once if an export was refused.
    pub async fn wait_for(
        &self,
        bound: Duration,
        mut done: impl FnMut(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        let since = Instant::now();
        loop {
            let spans = {
                let seen = self.seen.lock().expect("not poisoned");
                assert!(
                    seen.refused.is_empty(),
                    "exports refused: {:?}",
                    seen.refused
                );
                seen.spans.clone()
            };
            if done(&spans) || since.elapsed() >= bound {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `POST /v1/traces`: what an OTLP/HTTP collector answers, a protobuf
/// `ExportTraceServiceResponse` (empty: everything accepted).
async fn export(
    State(seen): State<Arc<Mutex<Seen>>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (content_type, encoding) = (
        header(header::CONTENT_TYPE),
        header(header::CONTENT_ENCODING),
    );
    let refuse = |status: StatusCode, why: String| {
        seen.lock().expect("not poisoned").refused.push(why.clone());
        (status, why).into_response()
    };
    if content_type != "application/x-protobuf" {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("content-type {content_type:?}"),
        );
    }
    // The workspace builds the exporter without its `gzip-http` feature, so
    // a compressed body would be news: refused rather than guessed at.
    if !encoding.is_empty() && encoding != "identity" {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("content-encoding {encoding:?}"),
        );
    }
    let request = match ExportTraceServiceRequest::decode(body) {
        Ok(request) => request,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("not OTLP: {e}")),
    };
    let mut spans = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for span in resource_spans
            .scope_spans
            .into_iter()
            .flat_map(|scope| scope.spans)
        {
            spans.push(ReceivedSpan {
                service: service.clone(),
                kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
                name: span.name,
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
                attributes: attributes(&span.attributes),
            });
        }
    }
    seen.lock().expect("not poisoned").spans.extend(spans);
    (
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
        .into_response()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The string, integer, float and boolean attributes, as text.
fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .filter_map(|kv| {
            let value = match kv.value.as_ref()?.value.as_ref()? {
                AnyValue::StringValue(s) => s.clone(),
                AnyValue::IntValue(i) => i.to_string(),
                AnyValue::DoubleValue(d) => d.to_string(),
                AnyValue::BoolValue(b) => b.to_string(),
                _ => return None,
            };
            Some((kv.key.clone(), value))
        })
        .collect()
}

/// The spans as an indented tree, one line each (`service: name (kind)
/// span id`), children under their parent in arrival order; spans whose
/// parent is not among them are the roots, with that parent named.
pub fn render_tree(spans: &[ReceivedSpan]) -> String {
    fn walk(out: &mut String, spans: &[ReceivedSpan], span: &ReceivedSpan, depth: usize) {
        let _ = writeln!(
            out,
            "{:indent$}{}: {} ({}) {}",
            "",
            span.service,
            span.name,
            span.kind.as_str_name(),
            span.span_id,
            indent = depth * 2,
        );
        for child in spans.iter().filter(|c| c.parent_span_id == span.span_id) {
            walk(out, spans, child, depth + 1);
        }
    }
    let mut out = String::new();
    for root in spans
        .iter()
        .filter(|s| !spans.iter().any(|p| p.span_id == s.parent_span_id))
    {
        let _ = writeln!(out, "parent {}:", display_parent(&root.parent_span_id));
        walk(&mut out, spans, root, 1);
    }
    out
}

fn display_parent(id: &str) -> &str {
    if id.is_empty() { "none" } else { id }
}
