//! Logs and traces: JSON log lines that carry trace ids, and OpenTelemetry
//! spans exported by OTLP when the standard `OTEL_*` variables ask for it.

use std::io::BufWriter;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::layer::Layer as _;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, filter};

use crate::config::Env;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object a line, for machines (the default).
    #[default]
    Json,
    /// Coloured multi-line output, for a developer's terminal.
    Pretty,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Self::Json),
            "pretty" => Ok(Self::Pretty),
            other => Err(format!("expected json or pretty, got {other:?}")),
        }
    }
}

/// Telemetry settings.
#[derive(Debug, Clone, Default)]
pub struct TelemetryConfig {
    pub log_format: LogFormat,
    /// `RUST_LOG`-style filter.
    pub log_filter: String,
    /// True when `OTEL_EXPORTER_OTLP_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set; the exporter reads the
    /// rest of the standard `OTEL_*` variables itself.
    pub otlp: bool,
}

impl TelemetryConfig {
    /// Reads `LOG_FORMAT`, `RUST_LOG` and whether an OTLP endpoint is set.
    pub fn from_env(env: &mut Env) -> Self {
        let log_filter = env.optional("RUST_LOG", "info".to_owned());
        env.check(
            EnvFilter::try_new(&log_filter).is_ok(),
            "RUST_LOG",
            "is not a valid log filter",
        );
        Self {
            log_format: env.optional("LOG_FORMAT", LogFormat::Json),
            log_filter,
            otlp: env.raw("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
                || env.raw("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some(),
        }
    }
}

/// Flushes and stops trace export, then the log writer, when dropped (at
/// the end of `main`).
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
    /// Dropped after the provider's shutdown, which may still log.
    _log_writer: WorkerGuard,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("telemetry shutdown: {e}");
        }
    }
}

/// The tracer provider for `config`. Without an OTLP endpoint nothing is
/// exported, so nothing is recorded either (sampler: parent-based, off at
/// the root): spans still get trace ids, taken from `traceparent` when the
/// caller sent one, which is all the logs and outgoing calls need. Recording
/// spans nobody exports cost about 30% of a cached read's throughput
/// (README, Performance).
pub fn provider(service: &str, config: &TelemetryConfig) -> anyhow::Result<SdkTracerProvider> {
    let resource = Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if config.otlp {
        // The blocking HTTP client: the batch processor runs on its own
        // thread, where an async client would find no runtime.
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    } else {
        builder = builder.with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)));
    }
    Ok(builder.build())
}

/// The `tracing` layer that turns spans into OpenTelemetry spans of
/// `provider`'s, as every service (and the in-process test apps) has it.
///
/// Without an exporter (`export` false) its only jobs are the trace ids
/// (taken from `traceparent` or made afresh, for the logs and outgoing
/// calls) and the parent links between spans. All it would do besides goes
/// nowhere, on every request: source locations and thread names as
/// attributes, busy/idle clocks and the OpenTelemetry context switched on
/// every poll of a request's future, and each log line copied into a span
/// event. So with `export` off those are off and the layer sees spans only
/// (measured: 4 % of an uncached product read's instructions, and the
/// open-model checkout p99 at half load from 12.6 to 9.1 ms in an
/// interleaved A/B; README, Performance).
pub fn trace_layer<S>(
    provider: &SdkTracerProvider,
    service: &str,
    export: bool,
) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service.to_owned()))
        .with_location(export)
        .with_threads(export)
        .with_tracked_inactivity(export)
        .with_context_activation(export)
        .with_filter(filter::filter_fn(move |meta| export || meta.is_span()))
}

/// Installs the global subscriber and tracer provider (see [`provider`]).
pub fn init(service: &str, config: &TelemetryConfig) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = provider(service, config)?;
    opentelemetry::global::set_tracer_provider(provider.clone());
    let otel = trace_layer(&provider, service, config.otlp);
    let filter = EnvFilter::try_new(&config.log_filter)?;
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    // Log lines are written by a thread of their own, so a request never
    // waits for stdout (a slow pipe, a busy terminal): the handler only
    // queues its line. Not lossy: beyond the queue's bound, loggers wait
    // rather than lose lines. Buffered: when lines come faster than one at
    // a time, the thread writes many per system call, and flushes whenever
    // the queue runs empty, so a line is never held back for long.
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(BufWriter::new(std::io::stdout()));
    match config.log_format {
        // json-subscriber writes the same lines as tracing-subscriber's
        // JSON format at a fraction of the cost: tracing-subscriber keeps a
        // span's fields as a JSON string, and parses and re-serializes it
        // for every field recorded later and for every event logged in
        // the span (callgrind: about a third of an uncached product read's
        // instructions went there; `cargo xtask bench callgrind`).
        LogFormat::Json => registry
            .with(
                json_subscriber::fmt::layer()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(writer),
            )
            .try_init()?,
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .pretty()
                    .with_writer(writer),
            )
            .try_init()?,
    }
    Ok(TelemetryGuard {
        provider,
        _log_writer: guard,
    })
}

/// The trace id of the current span (the request's, inside a handler), as
/// 32 hex digits; `None` outside a trace.
pub fn current_trace_id() -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let id = tracing::Span::current()
        .context()
        .span()
        .span_context()
        .trace_id();
    (id != opentelemetry::trace::TraceId::INVALID).then(|| id.to_string())
}
