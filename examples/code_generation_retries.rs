//! The reference's multi-step code generation with retries: generate code, "run" it, retry
//! with the error on failure, then write the methodology; export a Markdown report and print
//! a summary.
//!
//! Run with `cargo run --example code_generation_retries`.

use llmtrace::report::{ReportFormat, export_traces, summarize_traces};
use llmtrace::{Client, GenerateRequest};

/// Stands in for executing generated code: the first two attempts "fail".
fn execute(attempt: u32) -> Result<(), String> {
    match attempt {
        1 => Err("NameError: name 'plt' is not defined".into()),
        2 => Err("ValueError: bins must be positive".into()),
        _ => Ok(()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::builder().build();
    let session = client.session();

    // Step 1: generate code.
    session
        .generate(
            GenerateRequest::new("Create a histogram of ages")
                .system_prompt("You are a Python code generator")
                .step_type("code_generation")
                .attempt_number(1),
        )
        .await?;

    // Step 2: execute, retrying with the error as context.
    let mut outcome = execute(1);
    let mut attempt = 1;
    while let Err(error) = &outcome {
        attempt += 1;
        if attempt > 3 {
            break;
        }
        session
            .generate(
                GenerateRequest::new(format!(
                    "Previous code failed with error: {error}. Fix the code."
                ))
                .step_type("code_generation")
                .attempt_number(attempt),
            )
            .await?;
        outcome = execute(attempt);
    }

    // Step 3: the methodology text.
    if outcome.is_ok() {
        session
            .generate(
                GenerateRequest::new(
                    "Generate scientific methodology text for the histogram analysis",
                )
                .step_type("methodology_generation"),
            )
            .await?;
    }

    let traces = session.traces();
    println!("Workflow summary: {} LLM calls", traces.len());
    for trace in &traces {
        println!(
            "  step={:<24} attempt={} tokens={:<4} time={:.3} ms",
            trace.metadata["step_type"].as_str().unwrap_or("-"),
            trace.metadata["attempt_number"],
            trace.total_tokens(),
            trace.duration_ms(),
        );
    }

    let dir = std::env::temp_dir().join("llmtrace-example");
    let report = dir.join("workflow_trace.md");
    export_traces(&traces, ReportFormat::Markdown, Some(&report))?;
    println!("\nMarkdown report: {}", report.display());

    let summary = summarize_traces(&traces);
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
