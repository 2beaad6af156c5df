//! Session tracing: the reference's `TestSessionTracing`, then what it leaves out.

use std::time::Duration;

use llmtrace::sink::TraceQuery;
use llmtrace::{GenerateRequest, Message};

use crate::support::{failing, overloaded, stub, traced};

#[tokio::test]
async fn a_session_on_an_untraced_client_collects_nothing() {
    let client = stub().tracing(false).build();
    let session = client.session();

    session.generate("Test").await.unwrap();

    assert!(session.traces().is_empty());
    assert_eq!(session.history().len(), 2, "the conversation still goes on");
}

#[tokio::test]
async fn session_traces_carry_the_session_id_and_default_step_type() {
    let client = traced(10);
    let session = client.session();

    session
        .generate(GenerateRequest::new("Test 1").temperature(0.0))
        .await
        .unwrap();
    session
        .generate(GenerateRequest::new("Test 2").temperature(0.0))
        .await
        .unwrap();

    let traces = session.traces();
    assert_eq!(traces.len(), 2);
    assert_eq!(traces[0].prompt, "Test 1");
    assert_eq!(traces[1].prompt, "Test 2");
    assert_eq!(traces[0].metadata["session_id"], session.id());
    assert_eq!(traces[0].metadata["step_type"], "chat");
    assert_eq!(traces[0].metadata["attempt_number"], 1);
}

#[tokio::test]
async fn step_type_and_attempt_number_come_from_the_request() {
    let client = traced(10);
    let session = client.session();

    session
        .generate(
            GenerateRequest::new("Test")
                .temperature(0.0)
                .step_type("code_generation")
                .attempt_number(2),
        )
        .await
        .unwrap();

    let traces = session.traces();
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].metadata["session_id"], session.id());
    assert_eq!(traces[0].metadata["step_type"], "code_generation");
    assert_eq!(traces[0].metadata["attempt_number"], 2);
}

#[tokio::test]
async fn the_session_keeps_custom_keys_and_owns_session_id() {
    let client = traced(10);
    let session = client.session();

    session
        .generate(
            GenerateRequest::new("Test")
                .metadata("user_id", "u1")
                .metadata("session_id", "forged"),
        )
        .await
        .unwrap();

    let trace = &session.traces()[0];
    assert_eq!(trace.metadata["user_id"], "u1");
    assert_eq!(trace.metadata["session_id"], session.id());
}

#[tokio::test]
async fn each_session_sees_only_its_own_traces_and_the_client_sees_all() {
    let client = traced(10);
    let first = client.session();
    let second = client.session();

    first.generate("Question 1").await.unwrap();
    second.generate("Question 2").await.unwrap();

    assert_ne!(first.id(), second.id());
    assert_eq!(first.traces().len(), 1);
    assert_eq!(second.traces().len(), 1);
    assert_eq!(first.traces()[0].metadata["session_id"], first.id());
    assert_eq!(second.traces()[0].metadata["session_id"], second.id());
    assert_eq!(client.get_traces(TraceQuery::all()).len(), 2);
    assert_eq!(
        client.get_traces(TraceQuery::all().session(first.id()))[0].prompt,
        "Question 1"
    );
}

#[tokio::test]
async fn session_history_survives_ring_buffer_eviction() {
    let client = traced(2);
    let session = client.session();

    for i in 0..4 {
        session.generate(format!("Test {i}")).await.unwrap();
    }

    assert_eq!(client.get_traces(TraceQuery::all()).len(), 2);
    let traces = session.traces();
    assert_eq!(traces.len(), 4);
    assert_eq!(traces[0].prompt, "Test 0");
}

#[tokio::test]
async fn a_session_with_max_traces_zero_still_keeps_its_traces() {
    let client = traced(0);
    let session = client.session();

    session.generate("Test").await.unwrap();

    assert!(client.get_traces(TraceQuery::all()).is_empty());
    assert_eq!(session.traces().len(), 1);
}

#[tokio::test]
async fn the_session_sends_its_history_and_system_prompt() {
    let client = traced(10);
    let session = client.session().with_system_prompt("You are terse");

    session.generate("Test 1").await.unwrap();
    session.generate("Test 2").await.unwrap();

    let traces = session.traces();
    assert!(traces[0].messages.is_empty());
    assert_eq!(traces[0].system_prompt.as_deref(), Some("You are terse"));
    assert_eq!(
        traces[1].messages,
        [Message::user("Test 1"), Message::assistant("Echo: Test 1")]
    );
    assert_eq!(session.history().len(), 4);
}

#[tokio::test]
async fn a_failed_session_turn_is_traced_and_not_added_to_the_history() {
    let client = failing(overloaded(), Duration::ZERO);
    let session = client.session();

    session
        .generate(GenerateRequest::new("Test").step_type("code_generation"))
        .await
        .unwrap_err();

    let traces = session.traces();
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].error.as_ref().unwrap().kind, "server");
    assert_eq!(traces[0].metadata["step_type"], "code_generation");
    assert!(session.history().is_empty());
}

#[tokio::test]
async fn sessions_with_the_same_id_share_one_trace_list() {
    let client = traced(10);
    let first = client.session_with_id("conversation-7");
    let second = client.session_with_id("conversation-7");

    first.generate("a").await.unwrap();
    second.generate("b").await.unwrap();

    assert_eq!(first.traces().len(), 2);
    assert_eq!(second.traces().len(), 2);
    drop(first);
    second.generate("c").await.unwrap();
    assert_eq!(second.traces().len(), 3);
}

#[tokio::test]
async fn cleared_session_traces_start_over() {
    let client = traced(10);
    let session = client.session();
    session.generate("a").await.unwrap();

    session.clear_traces();
    session.generate("b").await.unwrap();

    let traces = session.traces();
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].prompt, "b");
}

#[tokio::test]
async fn a_streamed_session_turn_is_traced_and_joins_the_history() {
    let client = traced(10);
    let session = client.session().with_system_prompt("Be brief");

    // `next` is ResponseStream's own: no StreamExt import in this file.
    let mut stream = session
        .stream(GenerateRequest::new("one two three").step_type("draft"))
        .await
        .unwrap();
    let trace_id = stream.trace_id().expect("the turn is traced");
    let mut content = String::new();
    while let Some(chunk) = stream.next().await {
        content.push_str(&chunk.unwrap().content);
    }
    session.generate("and four").await.unwrap();

    let traces = session.traces();
    assert_eq!(traces.len(), 2);
    assert_eq!(traces[0].trace_id, trace_id);
    assert!(traces[0].stream);
    assert_eq!(traces[0].metadata["session_id"], session.id());
    assert_eq!(traces[0].metadata["step_type"], "draft");
    assert_eq!(traces[0].metadata["attempt_number"], 1);
    assert_eq!(traces[0].system_prompt.as_deref(), Some("Be brief"));
    let history = session.history();
    assert_eq!(history.len(), 4);
    assert_eq!(history[0], Message::user("one two three"));
    assert_eq!(history[1], Message::assistant(content));
    assert_eq!(
        traces[1].messages,
        history[..2],
        "the streamed turn is sent as history"
    );
}

#[tokio::test]
async fn a_streamed_turn_that_fails_or_is_dropped_is_not_added_to_the_history() {
    let client = failing(overloaded(), Duration::ZERO);
    let session = client.session();
    session.stream("Test").await.unwrap_err();

    let client = traced(10);
    let session = client.session();
    let mut stream = session.stream("one two three").await.unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);

    assert!(session.history().is_empty());
    assert_eq!(
        session.traces().len(),
        1,
        "the dropped turn is still traced"
    );
}
