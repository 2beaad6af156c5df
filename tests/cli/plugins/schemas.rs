//! The JSON Schemas in `plugins/abi/schemas/` describe what the Rust serializers really write:
//! the host's batches and requests, a Rust plugin's responses and errors, stream chunks.

use std::path::{Path, PathBuf};

use jsonschema::{Retrieve, Uri, Validator};
use llmtrace::provider::{EchoProvider, ProviderInfo};
use llmtrace::{Client, GenerateRequest, Generation, Message, ProviderError, Tool};
use llmtrace::{StreamChunk, TraceRecord, Usage};
use llmtrace_plugin_abi as abi;
use serde::Serialize;
use serde_json::{Value, json};
use tower::{ServiceExt, service_fn};

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/abi/schemas")
}

/// Resolves `$ref`s to sibling files, as a validator reading the files from disk would.
struct SiblingFiles;

impl Retrieve for SiblingFiles {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri.path().as_str().rsplit('/').next().unwrap_or_default();
        let text = std::fs::read_to_string(schemas_dir().join(name))?;
        Ok(serde_json::from_str(&text)?)
    }
}

fn validator(file: &str) -> Validator {
    let text = std::fs::read_to_string(schemas_dir().join(file)).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .with_retriever(SiblingFiles)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|error| panic!("{file} is not a valid schema: {error}"))
}

fn assert_valid(file: &str, payload: &impl Serialize) {
    let value = serde_json::to_value(payload).unwrap();
    let validator = validator(file);
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{file}: {errors:#?}\nin {value:#}");
}

/// Records with every optional part: a session, history, tools, parameters, a failure, a
/// stream.
async fn varied_records() -> Vec<std::sync::Arc<TraceRecord>> {
    let provider = service_fn(|request: GenerateRequest| async move {
        if request.prompt == "fail" {
            return Err::<Generation, _>(ProviderError::http(429, "slow down"));
        }
        EchoProvider::new().oneshot(request).await
    });
    let client = Client::builder()
        .service(ProviderInfo::new("varied", "varied-1"), provider)
        .build();
    let full = GenerateRequest::new("Add 2 and 3")
        .system_prompt("Be brief")
        .messages([Message::user("hi"), Message::assistant("hello")])
        .tool(Tool::new(
            "add",
            "Add two numbers",
            json!({"type": "object"}),
        ))
        .temperature(0.2)
        .max_tokens(64)
        .seed(7)
        .stop("END")
        .metadata("custom", json!({"nested": [1, 2]}));
    client.generate(full).await.unwrap();
    client.session().generate("in a session").await.unwrap();
    client.generate("fail").await.unwrap_err();
    let mut stream = client.stream("streamed").await.unwrap();
    while stream.next().await.is_some() {}
    drop(stream);
    client.get_traces(Default::default())
}

#[tokio::test]
async fn the_host_batches_and_their_records_validate() {
    let records = varied_records().await;
    assert!(records.len() >= 4, "{}", records.len());
    assert!(records.iter().any(|record| record.error.is_some()));
    for record in &records {
        assert_valid("trace-record.schema.json", &**record);
    }
    // Exactly as `PluginExporter` serializes a batch.
    let batch: Vec<&TraceRecord> = records.iter().map(|record| &**record).collect();
    assert_valid("export-batch.schema.json", &abi::ExportBatch::new(batch));
}

#[test]
fn the_host_requests_validate() {
    let request = GenerateRequest::new("Add 2 and 3")
        .system_prompt("Be brief")
        .messages([Message::user("hi")])
        .tool(Tool::new("add", "Add", json!({"type": "object"})))
        .top_p(0.9)
        .top_k(40)
        .max_output_tokens(10)
        .step_type("chat");
    // Exactly as `PluginProvider` serializes a request.
    assert_valid(
        "provider-request.schema.json",
        &abi::ProviderRequest::new(&request),
    );
}

#[test]
fn rust_plugin_responses_and_errors_validate() {
    let mut response = abi::GenerateResponse::new("5");
    response.usage = Some(abi::Usage::new(3, 1));
    response.finish_reason = Some("tool_calls".into());
    response.model = Some("m".into());
    response.tool_calls = vec![abi::ToolCall::new("add", json!({"a": 2, "b": 3}))];
    assert_valid(
        "provider-response.schema.json",
        &abi::ProviderResponse::new(response),
    );
    assert_valid(
        "provider-response.schema.json",
        &abi::ProviderResponse::new(abi::GenerateResponse::default()),
    );
    for error in [
        abi::PluginError::timeout("took too long"),
        abi::PluginError::internal("bug").with_retryable(true),
    ] {
        assert_valid("error.schema.json", &error);
    }
}

#[test]
fn stream_chunks_validate() {
    assert_valid("stream-chunk.schema.json", &StreamChunk::text("Hel"));
    let last = StreamChunk {
        finish_reason: Some("stop".into()),
        usage: Some(Usage::new(2, 3)),
        model: Some("m".into()),
        ..StreamChunk::default()
    };
    assert_valid("stream-chunk.schema.json", &last);
}

#[test]
fn the_schemas_reject_what_a_reader_could_not_use() {
    let validator = validator("export-batch.schema.json");
    let record = json!({
        "trace_id": "not a uuid", "timestamp": "yesterday", "provider": "p", "model": "m",
        "prompt": "p", "messages": [], "tools": [], "parameters": {}, "response": null,
        "metadata": {}
    });
    assert!(!validator.is_valid(&json!({ "schema": "1.0", "records": [record] })));
    assert!(!validator.is_valid(&json!({ "schema": "2.0", "records": [] })));
    assert!(validator.is_valid(&json!({ "schema": "1.3", "records": [] })));
    let errors = self::validator("error.schema.json");
    assert!(!errors.is_valid(&json!({ "kind": "timeout", "retryable": "yes" })));
}
