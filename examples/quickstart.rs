//! Trace a generation, read the trace back, export and summarize.
//!
//! Run with `cargo run --example quickstart` (offline: the built-in echo provider).

use llmtrace::report::{ReportFormat, export_traces, summarize_traces};
use llmtrace::{Client, GenerateRequest, TraceQuery};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::builder().max_traces(100).build();

    let response = client
        .generate(
            GenerateRequest::new("Write a Python function to add two numbers")
                .temperature(0.0)
                .metadata("step", "code_generation")
                .metadata("user_id", "user_123"),
        )
        .await?;

    let trace_id = response.trace_id().expect("tracing is on");
    let trace = client.get_trace(&trace_id).expect("just recorded");
    let answer = trace.response.as_ref().expect("the call succeeded");
    println!("Trace:    {trace_id}");
    println!("Prompt:   {}", trace.prompt);
    println!("Response: {}", answer.content);
    println!("Tokens:   {:?}", answer.usage);
    println!("Time:     {:.3} ms", answer.generation_time_ms);
    println!(
        "Metadata: {}",
        serde_json::Value::Object(trace.metadata.clone())
    );

    for i in 0..3 {
        client.generate(format!("Test {i}")).await?;
    }
    let recent = client.get_traces(TraceQuery::last(2));
    println!(
        "\nLast two prompts: {:?}",
        recent.iter().map(|t| &t.prompt).collect::<Vec<_>>()
    );

    let summary = summarize_traces(&client.get_traces(TraceQuery::all()));
    println!("\nSummary:\n{}", serde_json::to_string_pretty(&summary)?);

    let jsonl = export_traces(&recent, ReportFormat::Jsonl, None)?;
    println!("\nAs JSONL:\n{jsonl}");
    Ok(())
}
