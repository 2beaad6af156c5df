//! Redaction on the record path: what the store and sessions keep, what the provider gets.

use std::sync::{Arc, Mutex};

use llmtrace::provider::{EchoProvider, ProviderInfo};
use llmtrace::redact::{Detector, Field, RedactPolicy, Rule};
use llmtrace::{Client, GenerateRequest, Generation, Message, ProviderError};
use tower::{ServiceExt, service_fn};

const EMAIL: &str = "ana@example.com";
const KEY: &str = "sk-proj-abcdefghijklmnop1234";

/// A client over the echo provider that remembers every prompt the provider received.
fn recording(policy: RedactPolicy) -> (Client, Arc<Mutex<Vec<String>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    let provider = service_fn(move |request: GenerateRequest| {
        seen.lock().unwrap().push(request.prompt.clone());
        async move { EchoProvider::new().oneshot(request).await }
    });
    let client = Client::builder()
        .service(ProviderInfo::new("echo", "echo-1"), provider)
        .redact(policy)
        .build();
    (client, received)
}

fn policy() -> RedactPolicy {
    RedactPolicy::builder()
        .detectors([Detector::Email, Detector::ApiKey])
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_store_and_the_session_keep_the_masked_record_and_its_count() {
    let (client, received) = recording(policy());
    let session = client.session();
    let prompt = format!("mail {EMAIL} with key {KEY}");

    let response = session.generate(prompt.as_str()).await.unwrap();

    // The echo answer repeats the prompt: the caller gets it unmasked, the trace does not.
    assert!(response.content.contains(EMAIL));
    assert_eq!(received.lock().unwrap().as_slice(), [prompt]);
    let stored = client.get_trace(&response.trace_id().unwrap()).unwrap();
    let in_session = session.traces().pop().unwrap();
    for trace in [&stored, &in_session] {
        assert_eq!(
            trace.prompt,
            "mail [REDACTED:email] with key [REDACTED:api_key]"
        );
        assert!(!trace.response.as_ref().unwrap().content.contains(EMAIL));
        assert_eq!(trace.redactions, 4, "two in the prompt, two in the answer");
    }
    let json = serde_json::to_value(&*stored).unwrap();
    assert_eq!(json["redactions"], 4);
    let read_back: llmtrace::TraceRecord = serde_json::from_value(json).unwrap();
    assert_eq!(read_back, *stored, "the count survives a file round trip");
}

#[tokio::test]
async fn without_a_policy_nothing_is_masked_and_the_count_is_not_written() {
    let client = Client::builder().build();
    let response = client.generate(format!("mail {EMAIL}")).await.unwrap();
    let trace = client.get_trace(&response.trace_id().unwrap()).unwrap();
    assert_eq!(trace.prompt, format!("mail {EMAIL}"));
    let json = serde_json::to_value(&*trace).unwrap();
    assert!(json.get("redactions").is_none(), "{json}");
}

#[tokio::test]
async fn redacting_requests_masks_what_the_provider_receives() {
    let policy = RedactPolicy::builder()
        .detector(Detector::Email)
        .redact_requests(true)
        .build()
        .unwrap();
    let (client, received) = recording(policy);

    let response = client.generate(format!("mail {EMAIL}")).await.unwrap();

    assert_eq!(
        received.lock().unwrap().as_slice(),
        ["mail [REDACTED:email]"]
    );
    let trace = client.get_trace(&response.trace_id().unwrap()).unwrap();
    assert_eq!(trace.prompt, "mail [REDACTED:email]");
    assert_eq!(trace.redactions, 1, "the answer echoes the masked prompt");
}

#[tokio::test]
async fn field_rules_drop_fields_and_hash_metadata_consistently() {
    let policy = RedactPolicy::builder()
        .drop_field(Field::Messages)
        .drop_field(Field::SystemPrompt)
        .hash_metadata("user_id")
        .rule(Rule::new("ticket", r"T-\d+", None).unwrap())
        .build()
        .unwrap();
    let client = Client::builder().redact(policy).build();
    let request = || {
        GenerateRequest::new("about T-42")
            .system_prompt("secret instructions")
            .messages([Message::user("earlier"), Message::assistant("reply")])
            .metadata("user_id", "alice")
    };

    let first = client.generate(request()).await.unwrap();
    let second = client.generate(request()).await.unwrap();

    let a = client.get_trace(&first.trace_id().unwrap()).unwrap();
    let b = client.get_trace(&second.trace_id().unwrap()).unwrap();
    assert!(a.messages.is_empty());
    assert_eq!(a.system_prompt, None);
    assert_eq!(a.prompt, "about [REDACTED:ticket]");
    let user = a.metadata["user_id"].as_str().unwrap();
    assert!(
        user.starts_with("sha256:") && user.len() == 7 + 16,
        "{user}"
    );
    assert_eq!(
        a.metadata["user_id"], b.metadata["user_id"],
        "same value, same hash"
    );
    // messages, system prompt, user id, the ticket in the prompt and in the echoed answer.
    assert_eq!(a.redactions, 5);
}

#[tokio::test]
async fn a_failed_call_has_its_error_message_masked() {
    let provider = service_fn(|_request: GenerateRequest| async {
        Err::<Generation, _>(ProviderError::new(
            llmtrace::ErrorKind::InvalidRequest,
            format!("account {EMAIL} is not allowed"),
        ))
    });
    let client = Client::builder()
        .service(ProviderInfo::new("p", "m"), provider)
        .redact(policy())
        .build();
    client.generate("hi").await.unwrap_err();
    let trace = client.store().query(&Default::default()).pop().unwrap();
    assert_eq!(
        trace.error.as_ref().unwrap().message,
        "account [REDACTED:email] is not allowed"
    );
}
