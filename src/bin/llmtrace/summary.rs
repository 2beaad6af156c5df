//! Human-readable tables of traces and summaries.

use std::io::{self, BufWriter, Write};
use std::sync::Arc;

use chrono::SecondsFormat;

use llmtrace::TraceRecord;
use llmtrace::report::TraceSummary;
use serde_json::Value;

use crate::stdout::Stdout;

/// One line per trace: step, attempt, tokens, time, outcome.
pub(crate) fn print_traces(traces: &[Arc<TraceRecord>]) {
    println!(
        "{:>3}  {:<24} {:>7} {:>7} {:>10}  outcome",
        "#", "step", "attempt", "tokens", "time"
    );
    for (index, trace) in traces.iter().enumerate() {
        let text = |key: &str| match trace.metadata.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "-".to_owned(),
        };
        let outcome = match (&trace.error, &trace.response) {
            (Some(error), _) => format!("error: {}", error.kind),
            (None, Some(response)) if !response.tool_calls.is_empty() => {
                let names: Vec<&str> = response
                    .tool_calls
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect();
                format!("tool call: {}", names.join(", "))
            }
            (None, Some(response)) => response.finish_reason.clone().unwrap_or_default(),
            (None, None) => String::new(),
        };
        println!(
            "{:>3}  {:<24} {:>7} {:>7} {:>7.2} ms  {}",
            index + 1,
            text("step_type"),
            text("attempt_number"),
            trace.total_tokens(),
            trace.duration_ms(),
            outcome
        );
    }
}

/// Prints the summary on stdout; see [`write_summary`].
pub(crate) fn print_summary(summary: &TraceSummary) -> io::Result<()> {
    let mut out = BufWriter::new(Stdout::lock());
    write_summary(&mut out, summary)?;
    out.flush()
}

/// The summary as an aligned key/value list; anomalies, when there are any, last.
pub(crate) fn write_summary(out: &mut impl Write, summary: &TraceSummary) -> io::Result<()> {
    writeln!(out, "Summary")?;
    writeln!(
        out,
        "  interactions  {} ({} failed)",
        summary.total_interactions, summary.failed_interactions
    )?;
    writeln!(
        out,
        "  tokens        {} total, {:.1} per interaction",
        summary.total_tokens, summary.avg_tokens_per_interaction
    )?;
    writeln!(
        out,
        "  time          {:.2} ms total, {:.2} ms per interaction",
        summary.total_time_ms, summary.avg_time_ms
    )?;
    match (summary.total_cost_usd, summary.avg_cost_usd) {
        (Some(total), Some(average)) => writeln!(
            out,
            "  cost          ${total:.6} total, ${average:.6} per priced interaction ({} of {} priced)",
            summary.priced_interactions, summary.total_interactions
        )?,
        _ => writeln!(
            out,
            "  cost          unknown (no trace has a priced model and usage)"
        )?,
    }
    writeln!(out, "  providers     {}", summary.providers.join(", "))?;
    writeln!(out, "  models        {}", summary.models.join(", "))?;
    for (model, figures) in &summary.by_model {
        let cost = match (figures.total_cost_usd, figures.avg_cost_usd) {
            (Some(total), Some(average)) => format!(
                "${total:.6} total, ${average:.6} per priced interaction ({} priced)",
                figures.priced_interactions
            ),
            _ => "cost unknown".to_owned(),
        };
        writeln!(
            out,
            "    {model}: {} interaction(s), {} tokens, {cost}",
            figures.interactions, figures.total_tokens
        )?;
    }
    if let Some(range) = summary.date_range {
        writeln!(
            out,
            "  date range    {} to {}",
            range.first.to_rfc3339_opts(SecondsFormat::Secs, false),
            range.last.to_rfc3339_opts(SecondsFormat::Secs, false)
        )?;
    }
    if summary.duplicate_trace_ids > 0 {
        writeln!(
            out,
            "  warning       {} duplicate trace id(s): counted once",
            summary.duplicate_trace_ids
        )?;
    }
    if summary.invalid_times > 0 {
        writeln!(
            out,
            "  warning       {} negative or non-finite time(s): left out of the time figures",
            summary.invalid_times
        )?;
    }
    if summary.tokens_saturated {
        writeln!(
            out,
            "  warning       the token total exceeds {}: shown as that maximum",
            u64::MAX
        )?;
    }
    Ok(())
}
