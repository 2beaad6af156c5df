//! The HTTP providers against real HTTP servers on 127.0.0.1 that speak each provider's wire
//! format: what the client sends, what it makes of the documented answers, and how every class
//! of failure is reported and traced.

mod anthropic;
mod config;
mod cost;
mod errors;
mod hostile;
mod identity;
mod ollama;
mod openai;

use futures_util::StreamExt;
use llmtrace::{Generation, StreamChunk};

/// Every chunk of a generation that was asked to stream, each one expected good.
async fn good_chunks(generation: Generation) -> Vec<StreamChunk> {
    let Generation::Stream(stream) = generation else {
        panic!("a stream was asked for");
    };
    stream
        .map(|chunk| chunk.expect("a good chunk"))
        .collect()
        .await
}
