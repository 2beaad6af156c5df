//! Trace content: the reference's `TestTraceContent`, then what it leaves out.

use llmtrace::sink::TraceQuery;
use llmtrace::{GenerateRequest, Tool};
use serde_json::json;

use crate::support::traced;

#[tokio::test]
async fn a_trace_contains_every_field() {
    let client = traced(10);

    client
        .generate(
            GenerateRequest::new("Test prompt")
                .system_prompt("System")
                .temperature(0.7)
                .seed(42),
        )
        .await
        .unwrap();

    let trace = &client.get_traces(TraceQuery::all())[0];
    assert_eq!(trace.prompt, "Test prompt");
    assert_eq!(trace.system_prompt.as_deref(), Some("System"));
    assert_eq!(trace.parameters.temperature, Some(0.7));
    assert_eq!(trace.parameters.seed, Some(42));
    let response = trace.response.as_ref().unwrap();
    assert_eq!(response.content, "Echo: Test prompt");
    assert!(response.usage.is_some());
    assert!(response.generation_time_ms > 0.0);
    assert_eq!(response.finish_reason.as_deref(), Some("stop"));
    assert!(response.raw_response.is_none());
    assert!(trace.error.is_none());
}

#[tokio::test]
async fn usage_is_recorded() {
    let client = traced(10);

    client.generate("Test").await.unwrap();

    let usage = client.get_traces(TraceQuery::all())[0]
        .response
        .as_ref()
        .unwrap()
        .usage
        .unwrap();
    assert!(usage.total_tokens > 0);
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );
}

#[tokio::test]
async fn all_parameters_are_recorded_when_set() {
    let client = traced(10);

    client
        .generate(
            GenerateRequest::new("Test")
                .temperature(0.3)
                .max_tokens(123)
                .max_output_tokens(64)
                .seed(42)
                .top_p(0.9)
                .top_k(40)
                .stop("\n\n"),
        )
        .await
        .unwrap();

    let parameters =
        serde_json::to_value(&client.get_traces(TraceQuery::all())[0].parameters).unwrap();
    assert_eq!(
        parameters,
        json!({"temperature": 0.3, "max_tokens": 123, "max_output_tokens": 64, "seed": 42,
               "top_p": 0.9, "top_k": 40, "stop": ["\n\n"]})
    );
}

#[tokio::test]
async fn tools_and_tool_calls_are_recorded() {
    let client = traced(10);
    let add = Tool::new("add", "Add two numbers", json!({"type": "object"}));

    let response = client
        .generate(GenerateRequest::new("please add 1 and 2").tool(add.clone()))
        .await
        .unwrap();

    let trace = client.get_trace(&response.trace_id().unwrap()).unwrap();
    assert_eq!(trace.tools, [add]);
    let traced = trace.response.as_ref().unwrap();
    assert_eq!(traced.tool_calls, response.tool_calls);
    assert_eq!(traced.tool_calls[0].name, "add");
    assert_eq!(traced.finish_reason.as_deref(), Some("tool_calls"));
}
