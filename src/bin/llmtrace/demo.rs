//! `llmtrace demo`: the main job on the embedded default, end to end.

use std::path::Path;
use std::time::Duration;

use llmtrace::provider::EchoProvider;
use llmtrace::report::{ReportFormat, export_traces, summarize_traces};
use llmtrace::{BoxError, Client, GenerateRequest, Tool, TraceQuery};
use serde_json::json;

use crate::summary::{print_summary, print_traces};

/// Runs a traced code-generation workflow with a retry, a tool call and a streamed answer.
pub(crate) async fn run(out_dir: &Path) -> Result<(), BoxError> {
    println!("llmtrace demo: a traced code-generation workflow on the built-in echo provider");
    println!("(offline and deterministic: every answer is \"Echo: <prompt>\")\n");

    let provider = EchoProvider::new().latency(Duration::from_millis(15));
    let client = Client::builder()
        .provider(provider)
        .metadata("app", "llmtrace-demo")
        .build();
    let session = client
        .session()
        .with_system_prompt("You are a Python code generator");

    // Code generation; the first attempt "fails to run", so the second one is a retry.
    let mut error = None::<&str>;
    for attempt in 1..=2 {
        let prompt = match error {
            None => "Create a histogram of ages".to_owned(),
            Some(error) => format!("Previous code failed with error: {error}. Fix the code."),
        };
        session
            .generate(
                GenerateRequest::new(prompt)
                    .step_type("code_generation")
                    .attempt_number(attempt),
            )
            .await?;
        error = (attempt == 1).then_some("NameError: name 'plt' is not defined");
    }

    // The model asks to run the code through a tool.
    let run_python = Tool::new(
        "run_python",
        "Run Python code and return what it prints",
        json!({"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]}),
    );
    session
        .generate(
            GenerateRequest::new("Use run_python to execute the fixed code")
                .tool(run_python)
                .step_type("execution"),
        )
        .await?;

    session
        .generate(
            GenerateRequest::new("Generate scientific methodology text for the histogram analysis")
                .step_type("methodology_generation"),
        )
        .await?;

    // A streamed answer is traced once, when the stream ends.
    let mut stream = client
        .stream(
            GenerateRequest::new("Summarize the analysis in one sentence")
                .metadata("step_type", "summary"),
        )
        .await?;
    while let Some(chunk) = stream.next().await {
        chunk?;
    }

    let traces = client.get_traces(TraceQuery::all());
    print_traces(&traces);
    println!();
    print_summary(&summarize_traces(&traces))?;

    let jsonl = out_dir.join("demo.jsonl");
    let markdown = out_dir.join("demo.md");
    export_traces(&traces, ReportFormat::Jsonl, Some(&jsonl))?;
    export_traces(&traces, ReportFormat::Markdown, Some(&markdown))?;
    println!(
        "\n{} traces written to {} (one JSON record per line)\nand {} (a readable report).",
        traces.len(),
        jsonl.display(),
        markdown.display()
    );
    Ok(())
}
