//! The Markdown report: one section per interaction, readable as plain text and valid
//! Markdown whatever the prompts contain.
//!
//! Text blocks are fenced with one more backtick than the longest backtick run inside them,
//! so a prompt holding a ```` ``` ```` code block cannot close the fence early.

use std::borrow::Borrow;
use std::fmt::Write as _;
use std::io::{self, BufRead};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::TraceRecord;

/// Renders the whole report.
pub fn render<R: Borrow<TraceRecord>>(traces: &[R], generated_at: DateTime<Utc>) -> String {
    let mut out = String::new();
    write_header(&mut out, traces.len(), generated_at);
    write_cost_summary(&mut out, traces);
    for (index, trace) in traces.iter().enumerate() {
        write_interaction(&mut out, index + 1, trace.borrow());
    }
    out
}

/// Writes the report title, generation time and interaction count.
pub fn write_header(out: &mut String, total: usize, generated_at: DateTime<Utc>) {
    let generated = generated_at.to_rfc3339_opts(SecondsFormat::Secs, false);
    let _ = write!(
        out,
        "# LLM Interaction Trace Report\n\n**Generated:** {generated}\n**Total Interactions:** {total}\n\n"
    );
}

/// Writes the total cost and the cost per model, when any trace has a cost.
fn write_cost_summary<R: Borrow<TraceRecord>>(out: &mut String, traces: &[R]) {
    let summary = super::summarize_traces(traces);
    let Some(total) = summary.total_cost_usd else {
        return;
    };
    let _ = writeln!(
        out,
        "**Total Cost:** ${total:.6} ({} of {} interactions priced)\n",
        summary.priced_interactions, summary.total_interactions
    );
    out.push_str("| Model | Interactions | Tokens | Cost (USD) | Average (USD) |\n");
    out.push_str("|---|---:|---:|---:|---:|\n");
    for (model, figures) in &summary.by_model {
        let dollars =
            |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |v| format!("{v:.6}"));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            // A pipe would end the cell, even inside a code span.
            inline_code(&model.replace('|', "\\|")),
            figures.interactions,
            figures.total_tokens,
            dollars(figures.total_cost_usd),
            dollars(figures.avg_cost_usd)
        );
    }
    out.push('\n');
}

/// Writes the title of a report that grows as records arrive (no total: it is not known).
pub fn write_log_header(out: &mut String, started_at: DateTime<Utc>) {
    let started = started_at.to_rfc3339_opts(SecondsFormat::Secs, false);
    let _ = write!(
        out,
        "# LLM Interaction Trace Report\n\n**Started:** {started}\n\n"
    );
}

/// How many interactions a report already holds, to number the next ones: its
/// `## Interaction N` lines outside fenced code blocks. A prompt or answer quoting such a
/// line sits in a block, and is no heading.
///
/// # Errors
/// When `report` cannot be read.
pub fn count_interactions(mut report: impl BufRead) -> io::Result<usize> {
    let mut count = 0;
    // The open fence: its character and length (CommonMark: closed by a run at least as long).
    let mut fence: Option<(u8, usize)> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        if report.read_until(b'\n', &mut line)? == 0 {
            return Ok(count);
        }
        let text = line.trim_ascii_end();
        let indent = text.iter().take_while(|&&b| b == b' ').count();
        let rest = &text[indent..];
        let run = match rest.first() {
            Some(&c @ (b'`' | b'~')) if indent <= 3 => rest.iter().take_while(|&&b| b == c).count(),
            _ => 0,
        };
        match fence {
            Some((c, length)) => {
                if run >= length && rest[0] == c && rest[run..].trim_ascii().is_empty() {
                    fence = None;
                }
            }
            None if run >= 3 && !(rest[0] == b'`' && rest[run..].contains(&b'`')) => {
                fence = Some((rest[0], run));
            }
            None => count += usize::from(text.starts_with(b"## Interaction ")),
        }
    }
}

/// Writes the section of interaction `number` (counted from 1).
pub fn write_interaction(out: &mut String, number: usize, trace: &TraceRecord) {
    let _ = writeln!(out, "## Interaction {number}: {}\n", trace.trace_id);
    write_metadata(out, trace);
    write_input(out, trace);
    write_response(out, trace);
    write_error(out, trace);
    out.push_str("---\n\n");
}

fn write_metadata(out: &mut String, trace: &TraceRecord) {
    out.push_str("### Metadata\n");
    let timestamp = trace
        .timestamp
        .to_rfc3339_opts(SecondsFormat::Micros, false);
    let _ = writeln!(out, "- **Timestamp:** {timestamp}");
    let _ = writeln!(out, "- **Provider:** {}", one_line(&trace.provider));
    let _ = writeln!(out, "- **Model:** {}", one_line(&trace.model));
    for (key, value) in &trace.metadata {
        let _ = writeln!(out, "- **{}:** {}", title_case(key), display_value(value));
    }
    out.push('\n');
}

fn write_input(out: &mut String, trace: &TraceRecord) {
    out.push_str("### Input\n");
    if let Some(system_prompt) = trace.system_prompt.as_deref().filter(|s| !s.is_empty()) {
        out.push_str("**System Prompt:**\n");
        write_block(out, system_prompt);
    }
    if !trace.messages.is_empty() {
        let _ = writeln!(
            out,
            "**Conversation History:** {} messages\n",
            trace.messages.len()
        );
        for message in &trace.messages {
            let _ = writeln!(out, "*{}:*", message.role.as_str());
            write_block(out, &message.content);
        }
    }
    out.push_str("**User Prompt:**\n");
    write_block(out, &trace.prompt);
    if let Ok(Value::Object(parameters)) = serde_json::to_value(&trace.parameters)
        && !parameters.is_empty()
    {
        out.push_str("**Parameters:**\n");
        for (key, value) in &parameters {
            let _ = writeln!(out, "- `{key}`: {value}");
        }
        out.push('\n');
    }
    if !trace.tools.is_empty() {
        let names: Vec<String> = trace.tools.iter().map(|t| inline_code(&t.name)).collect();
        let _ = writeln!(
            out,
            "**Tools Available:** {} tools ({})\n",
            trace.tools.len(),
            names.join(", ")
        );
    }
}

fn write_response(out: &mut String, trace: &TraceRecord) {
    let Some(response) = &trace.response else {
        return;
    };
    out.push_str("### Response\n");
    if !response.content.is_empty() {
        out.push_str("**Content:**\n");
        write_block(out, &response.content);
    }
    if !response.tool_calls.is_empty() {
        let _ = writeln!(out, "**Tool Calls:** {}", response.tool_calls.len());
        for call in &response.tool_calls {
            let _ = writeln!(
                out,
                "- {}",
                inline_code(&format!("{}({})", call.name, call.arguments))
            );
        }
        out.push('\n');
    }
    if let Some(usage) = response.usage {
        let _ = writeln!(
            out,
            "**Usage:**\n- Input tokens: {}\n- Output tokens: {}\n- Total tokens: {}",
            usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
        );
        if let Some(cached) = usage.cached_prompt_tokens {
            let _ = writeln!(out, "- Cached input tokens: {cached}");
        }
        if let Some(written) = usage.cache_creation_tokens {
            let _ = writeln!(out, "- Cache write tokens: {written}");
        }
        if let Some(cost) = trace.cost_usd {
            let _ = writeln!(out, "- Cost: ${cost:.6}");
        }
        out.push('\n');
    }
    out.push_str("**Performance:**\n");
    let _ = writeln!(
        out,
        "- Generation time: {:.2}ms",
        response.generation_time_ms
    );
    if let Some(ttft) = response.time_to_first_token_ms {
        let _ = writeln!(out, "- Time to first token: {ttft:.2}ms");
    }
    if let Some(reason) = &response.finish_reason {
        let _ = writeln!(out, "- Finish reason: {}", one_line(reason));
    }
    out.push('\n');
}

fn write_error(out: &mut String, trace: &TraceRecord) {
    let Some(error) = &trace.error else {
        return;
    };
    out.push_str("### Error\n");
    let _ = writeln!(out, "- **Kind:** {}", one_line(error.kind.as_str()));
    if let Some(status) = error.status {
        let _ = writeln!(out, "- **HTTP Status:** {status}");
    }
    let _ = writeln!(out, "- **Retryable:** {}", error.retryable);
    let _ = writeln!(out, "- **Failed After:** {:.2}ms", error.generation_time_ms);
    out.push_str("- **Message:**\n\n");
    write_block(out, &error.message);
}

/// A fenced block that `text` cannot break out of, followed by a blank line.
fn write_block(out: &mut String, text: &str) {
    let fence = "`".repeat(longest_backtick_run(text).max(2) + 1);
    let _ = writeln!(out, "{fence}\n{text}\n{fence}\n");
}

/// Inline code that `text` cannot break out of.
fn inline_code(text: &str) -> String {
    let text = one_line(text);
    let ticks = "`".repeat(longest_backtick_run(&text) + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// Keeps list items on one line: line breaks become `\n`.
fn one_line(text: &str) -> String {
    text.replace('\r', "\\r").replace('\n', "\\n")
}

fn display_value(value: &Value) -> String {
    match value {
        Value::String(text) => one_line(text),
        other => other.to_string(),
    }
}

/// `session_id` -> `Session Id`, as the reference report titles metadata keys.
fn title_case(key: &str) -> String {
    let mut titled = String::with_capacity(key.len());
    let mut previous_is_letter = false;
    for c in key.chars() {
        let c = if c == '_' { ' ' } else { c };
        if c.is_alphabetic() {
            if previous_is_letter {
                titled.extend(c.to_lowercase());
            } else {
                titled.extend(c.to_uppercase());
            }
            previous_is_letter = true;
        } else {
            titled.push(c);
            previous_is_letter = false;
        }
    }
    one_line(&titled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_case_matches_python_str_title() {
        assert_eq!(title_case("session_id"), "Session Id");
        assert_eq!(title_case("attempt_number"), "Attempt Number");
        assert_eq!(title_case("user_ID"), "User Id");
        assert_eq!(title_case("step2go"), "Step2Go");
    }

    #[test]
    fn fences_outgrow_the_backticks_inside() {
        let mut out = String::new();
        write_block(&mut out, "```python\nprint(1)\n```");
        assert!(out.starts_with("````\n"));
        assert!(out.ends_with("\n````\n\n"));
        assert_eq!(inline_code("a`b"), "``a`b``");
        assert_eq!(inline_code("`x"), "`` `x ``");
    }
}
