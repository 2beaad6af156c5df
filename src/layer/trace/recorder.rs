use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use super::TraceableError;
use crate::cost::PriceTable;
use crate::provider::ProviderInfo;
use crate::redact::RedactPolicy;
use crate::sink::RecordSink;
use crate::{
    GenerateRequest, GenerateResponse, Message, Metadata, Parameters, Tool, TraceError,
    TraceRecord, TraceResponse,
};

/// What every service built from one [`TraceLayer`](super::TraceLayer) shares.
pub(crate) struct Shared {
    pub(crate) provider: ProviderInfo,
    pub(crate) sink: Arc<dyn RecordSink>,
    /// Prices each finished record (`cost_usd`).
    pub(crate) prices: Arc<PriceTable>,
    /// Applied to every record before the sink sees it, so no sink can bypass it.
    pub(crate) redact: Option<Arc<RedactPolicy>>,
}

/// One call in flight: the request half of its record, the clock, and the duty to record it.
///
/// Exactly one record comes out of a `Recorder`: from [`finish`](Self::finish), or, if the
/// call is dropped first, from `Drop` as a cancellation.
pub(crate) struct Recorder {
    shared: Arc<Shared>,
    started: Instant,
    trace_id: Uuid,
    request: Option<RequestPart>,
}

struct RequestPart {
    timestamp: DateTime<Utc>,
    system_prompt: Option<String>,
    prompt: String,
    messages: Vec<Message>,
    tools: Vec<Tool>,
    parameters: Parameters,
    stream: bool,
    metadata: Metadata,
    /// What masking the request for the provider already removed.
    redactions: u32,
}

impl Recorder {
    /// Starts timing `request` and copies what the record needs, except its metadata, which
    /// it takes: metadata is for the trace, not the model, and moving it saves a copy of
    /// every key and value on each call.
    ///
    /// A `trace_id` already in the metadata (a UUID string) becomes the trace's id, so a caller
    /// such as the proxy can name the trace before the call, even if it fails.
    pub(crate) fn start(shared: Arc<Shared>, request: &mut GenerateRequest) -> Self {
        let mut redactions = 0;
        if let Some(policy) = shared.redact.as_ref().filter(|p| p.redacts_requests()) {
            redactions = policy.redact_request(request);
        }
        let preset = crate::types::trace_id_in(&request.metadata);
        if preset.is_some() {
            request.metadata.remove("trace_id");
        }
        // Truncated to what the serialized form keeps, so a record read back from a file
        // equals the one in memory.
        let timestamp = Utc::now().trunc_subsecs(6);
        Self {
            shared,
            started: Instant::now(),
            trace_id: preset.unwrap_or_else(|| crate::types::new_trace_id(timestamp)),
            request: Some(RequestPart {
                timestamp,
                system_prompt: request.system_prompt.clone(),
                prompt: request.prompt.clone(),
                messages: request.messages.clone(),
                tools: request.tools.clone(),
                parameters: request.parameters.clone(),
                stream: request.stream,
                metadata: std::mem::take(&mut request.metadata),
                redactions,
            }),
        }
    }

    /// Records in the metadata how many attempts a retry layer below made (`attempts`).
    pub(crate) fn set_attempts(&mut self, attempts: u32) {
        if let Some(request) = &mut self.request {
            request
                .metadata
                .insert("attempts".into(), serde_json::Value::from(attempts));
        }
    }

    pub(crate) fn trace_id(&self) -> Uuid {
        self.trace_id
    }

    pub(crate) fn elapsed_ms(&self) -> f64 {
        // Microsecond resolution keeps the figure exact in decimal (no 16.384043000000002).
        self.started.elapsed().as_micros() as f64 / 1000.0
    }

    /// Builds the record and hands it to the sink. Later calls do nothing.
    pub(crate) fn finish(&mut self, response: Option<TraceResponse>, error: Option<TraceError>) {
        let Some(request) = self.request.take() else {
            return;
        };
        let provider = &self.shared.provider;
        let mut record = TraceRecord {
            trace_id: self.trace_id,
            timestamp: request.timestamp,
            provider: provider.name.clone(),
            model: provider.model.clone(),
            server_address: provider.server_address.clone(),
            server_port: provider.server_port,
            stream: request.stream,
            system_prompt: request.system_prompt,
            prompt: request.prompt,
            messages: request.messages,
            tools: request.tools,
            parameters: request.parameters,
            response,
            cost_usd: None,
            error: error.map(Box::new),
            metadata: request.metadata,
            redactions: request.redactions,
        };
        record.cost_usd = self.shared.prices.record_cost(&record);
        if let Some(policy) = &self.shared.redact {
            policy.redact_record(&mut record);
        }
        self.shared.sink.record(&Arc::new(record));
    }

    /// Records a success.
    pub(crate) fn succeed(&mut self, response: &GenerateResponse, first_chunk_ms: Option<f64>) {
        let traced = trace_response(response, self.elapsed_ms(), first_chunk_ms);
        self.finish(Some(traced), None);
    }

    /// The error for a call or stream the caller dropped before it finished.
    pub(crate) fn cancellation(&self) -> TraceError {
        let message = "the caller dropped the generation before it finished";
        crate::ProviderError::new(crate::ErrorKind::Cancelled, message)
            .trace_error(self.elapsed_ms())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.request.is_some() {
            let error = self.cancellation();
            self.finish(None, Some(error));
        }
    }
}

pub(crate) fn trace_response(
    response: &GenerateResponse,
    generation_time_ms: f64,
    time_to_first_token_ms: Option<f64>,
) -> TraceResponse {
    TraceResponse {
        content: response.content.clone(),
        raw_response: response.raw_response.clone().map(Box::new),
        tool_calls: response.tool_calls.clone(),
        finish_reason: response.finish_reason.clone(),
        usage: response.usage,
        generation_time_ms,
        time_to_first_token_ms,
        id: response.id.clone(),
        model: response.model.clone(),
    }
}
