//! A conversation with its own history and traces; two sessions stay isolated.
//!
//! Run with `cargo run --example session`.

use llmtrace::{Client, GenerateRequest, TraceQuery};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::builder().build();

    let session = client
        .session()
        .with_system_prompt("You are a helpful assistant");
    session.generate("What is Python?").await?;
    session
        .generate(GenerateRequest::new("Give me an example").metadata("user_id", "u1"))
        .await?;

    let other = client.session();
    other.generate("An unrelated question").await?;

    let traces = session.traces();
    println!(
        "Session {} captured {} interactions",
        session.id(),
        traces.len()
    );
    for (i, trace) in traces.iter().enumerate() {
        let tokens = trace.total_tokens();
        println!("\nInteraction {}:", i + 1);
        println!("  Session ID: {}", trace.metadata["session_id"]);
        println!("  Step type:  {}", trace.metadata["step_type"]);
        println!("  Prompt:     {}", trace.prompt);
        println!("  History:    {} messages", trace.messages.len());
        println!("  Tokens:     {tokens}");
    }

    println!("\nThe other session sees {} trace(s)", other.traces().len());
    println!(
        "The client sees {} trace(s)",
        client.get_traces(TraceQuery::all()).len()
    );
    Ok(())
}
