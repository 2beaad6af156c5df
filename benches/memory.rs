//! Budget: a stored trace takes at most its payload plus 1 KiB.
//!
//! Counts live heap bytes with dhat's counting allocator (not an estimate): the growth while the
//! client records 10,000 traces of 1 KiB prompts (and so ~1 KiB answers), divided by 10,000.

use llmtrace::{Client, GenerateRequest, TraceQuery};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

fn live_bytes() -> isize {
    dhat::HeapStats::get().curr_bytes as isize
}

const TRACES: usize = 10_000;

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = Client::builder().max_traces(TRACES).build();
    let session = client.session();
    // Warm up: the first call allocates lazily initialized state; then clear the store so the
    // measured growth is the records alone.
    runtime.block_on(client.generate("warm up")).unwrap();
    client.store().clear();

    let before = live_bytes();
    runtime.block_on(async {
        for i in 0..TRACES {
            let prompt = format!("{i:05} {}", "x".repeat(1018));
            let request = GenerateRequest::new(prompt).metadata("user_id", "u-42");
            // Client calls and session calls alternate, like a real mix.
            if i % 2 == 0 {
                client.generate(request).await.unwrap();
            } else {
                client
                    .generate(request.metadata("session_id", session.id()))
                    .await
                    .unwrap();
            }
        }
    });
    let after = live_bytes();

    let traces = client.get_traces(TraceQuery::all());
    assert_eq!(traces.len(), TRACES);
    let payload: usize = traces
        .iter()
        .map(|t| t.prompt.len() + t.response.as_ref().map_or(0, |r| r.content.len()))
        .sum::<usize>()
        / TRACES;
    let per_trace = (after - before) as f64 / TRACES as f64;
    let overhead = per_trace - payload as f64;
    println!("memory per stored trace at {TRACES} traces (1 KiB prompt and answer):");
    println!("  measured   {per_trace:.0} bytes");
    println!("  payload    {payload} bytes (prompt + answer text)");
    println!(
        "  overhead   {overhead:.0} bytes (budget: <= 1024) -> {}",
        if overhead <= 1024.0 {
            "within budget"
        } else {
            "OVER BUDGET"
        }
    );
    drop(traces);
}
