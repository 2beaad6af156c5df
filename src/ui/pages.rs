//! The HTML pages: trace list, trace, session, summary.

use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::chart::bars;
use super::html::{escape, millis, or_dash, page, segment, time};
use super::scores::{self, value_text};
use super::{UiError, query, query_string};
use crate::exporter::{Score, SqliteStore, Summary, TraceFilter, TraceRow};
use crate::{Message, TraceRecord};

/// A failed page, as a page.
fn error_page(error: &UiError) -> Response {
    let body = format!(
        r#"<h1>Error</h1><p class="error">{}</p><p><a href="/">All traces</a></p>"#,
        escape(&error.to_string())
    );
    page(error.status(), "Error", &body)
}

fn respond(result: Result<Response, UiError>) -> Response {
    result.unwrap_or_else(|error| error_page(&error))
}

pub(super) async fn list(
    State(store): State<SqliteStore>,
    Query(filter): Query<TraceFilter>,
) -> Response {
    let form = filter_form(&filter);
    let shown = filter.clone();
    let result = query(&store, move |s| s.traces(&shown)).await;
    let result = result.map(|traces| {
        let mut body = format!("<h1>Traces</h1>{form}");
        body.push_str(&trace_table(&traces.traces, TableKind::List));
        if let Some(next) = traces.next {
            let mut older = filter.clone();
            older.cursor = Some(next);
            let _ = write!(
                body,
                r#"<p class="pager"><a id="older" href="/?{}">Older traces →</a></p>"#,
                escape(&query_string(&older, true))
            );
        }
        page(StatusCode::OK, "Traces", &body)
    });
    match result {
        Err(error @ UiError::Store(_)) if error.status() == StatusCode::BAD_REQUEST => {
            let body = format!(
                r#"<h1>Traces</h1>{form}<p class="error">{}</p>"#,
                escape(&error.to_string())
            );
            page(StatusCode::BAD_REQUEST, "Traces", &body)
        }
        other => respond(other),
    }
}

fn filter_form(filter: &TraceFilter) -> String {
    let field = |name: &str, label: &str, value: &Option<String>, hint: &str| {
        format!(
            r#"<label>{label}<input name="{name}" value="{}" placeholder="{hint}"></label>"#,
            escape(value.as_deref().unwrap_or(""))
        )
    };
    [
        r#"<form class="filters" method="get" action="/">"#.to_owned(),
        field("q", "Search", &filter.q, "words in prompts and answers"),
        field("session", "Session", &filter.session, "session id"),
        field("model", "Model", &filter.model, "gpt-4o"),
        field("provider", "Provider", &filter.provider, "openai"),
        field("outcome", "Outcome", &filter.outcome, "ok, error, timeout…"),
        field("meta", "Metadata", &filter.meta, "key=value"),
        field("score", "Score", &filter.score, "helpfulness<0.5"),
        field("prompt_name", "Prompt", &filter.prompt_name, "prompt_name"),
        field(
            "prompt_version",
            "Version",
            &filter.prompt_version,
            "prompt_version",
        ),
        field("from", "From", &filter.from, "2025-11-08"),
        field("to", "To", &filter.to, "2025-11-09T12:00:00Z"),
        r#"<button type="submit">Filter</button> <a href="/">Clear</a></form>"#.to_owned(),
    ]
    .concat()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TableKind {
    List,
    Session,
}

fn trace_table(rows: &[TraceRow], kind: TableKind) -> String {
    if rows.is_empty() {
        return r#"<p class="empty">No traces match.</p>"#.to_owned();
    }
    let mut html = String::from(r#"<table class="traces"><thead><tr>"#);
    if kind == TableKind::Session {
        html.push_str("<th>#</th>");
    }
    html.push_str(
        "<th>Time</th><th>Provider / model</th><th>Session</th><th>Step</th><th>Tokens in/out</th>\
         <th>Cost</th><th>Latency</th><th>TTFT</th><th>Outcome</th><th>Scores</th></tr></thead><tbody>",
    );
    for (i, row) in rows.iter().enumerate() {
        let outcome_class = if row.outcome == "ok" { "ok" } else { "err" };
        html.push_str("<tr>");
        if kind == TableKind::Session {
            let _ = write!(html, "<td>{}</td>", i + 1);
        }
        let session = row.session_id.as_deref().map_or_else(
            || "–".to_owned(),
            |s| {
                format!(
                    r#"<a class="session" href="/sessions/{}">{}</a>"#,
                    segment(s),
                    escape(s)
                )
            },
        );
        let step = match (&row.step_type, row.attempt) {
            (None, None) => "–".to_owned(),
            (step, attempt) => format!(
                "{}{}",
                escape(step.as_deref().unwrap_or("")),
                attempt.map_or_else(String::new, |a| format!(" #{a}"))
            ),
        };
        let tokens = match (row.prompt_tokens, row.completion_tokens) {
            (None, None) => "–".to_owned(),
            (i, o) => format!("{} / {}", or_dash(i), or_dash(o)),
        };
        let scores = row
            .scores
            .iter()
            .map(|(name, value)| {
                format!(
                    r#"<span class="score">{}: {}</span>"#,
                    escape(name),
                    escape(&value_text(value))
                )
            })
            .collect::<Vec<_>>()
            .join(" ");
        let _ = write!(
            html,
            r#"<td><a class="trace" href="/traces/{id}">{time}</a></td><td>{provider} / {model}</td><td>{session}</td><td>{step}</td><td class="num">{tokens}</td><td class="num">{cost}</td><td class="num">{latency}</td><td class="num">{ttft}</td><td class="{outcome_class}">{outcome}</td><td class="scores">{scores}</td></tr>"#,
            id = segment(&row.trace_id),
            time = time(&row.timestamp),
            provider = escape(&row.provider),
            model = escape(&row.model),
            cost = row
                .cost
                .map_or_else(|| "–".to_owned(), |c| format!("${c:.4}")),
            latency = millis(row.latency_ms),
            ttft = row.ttft_ms.map_or_else(|| "–".to_owned(), millis),
            outcome = escape(&row.outcome),
        );
    }
    html.push_str("</tbody></table>");
    html
}

pub(super) async fn trace(State(store): State<SqliteStore>, Path(id): Path<String>) -> Response {
    let lookup = id.clone();
    respond(
        query(&store, move |s| {
            let record = s.trace(&lookup)?;
            let scores = s.scores(&lookup)?;
            Ok(record.map(|record| (record, scores)))
        })
        .await
        .and_then(|found| found.ok_or_else(|| UiError::NotFound(format!("trace {id}"))))
        .map(|(record, scores)| {
            page(
                StatusCode::OK,
                &format!("Trace {}", record.trace_id),
                &trace_body(&record, &scores),
            )
        }),
    )
}

fn pre(text: &str) -> String {
    format!("<pre>{}</pre>", escape(text))
}

fn json(value: &impl serde::Serialize) -> String {
    pre(&serde_json::to_string_pretty(value).unwrap_or_default())
}

fn section(title: &str, id: &str, content: &str) -> String {
    format!(
        r#"<section id="{id}"><h2>{}</h2>{content}</section>"#,
        escape(title)
    )
}

fn message(role: &str, content: &str, extra: &str) -> String {
    format!(
        r#"<div class="message {role}"><div class="role">{role}</div>{}{extra}</div>"#,
        pre(content),
        role = escape(role),
    )
}

fn trace_body(record: &TraceRecord, scores: &[Score]) -> String {
    let mut body = format!(
        r#"<h1>Trace <code>{}</code></h1><dl class="facts"><dt>Time</dt><dd>{}</dd><dt>Provider / model</dt><dd>{} / {}</dd>"#,
        escape(&record.trace_id.to_string()),
        time(&record.timestamp.to_rfc3339()),
        escape(&record.provider),
        escape(&record.model),
    );
    if let Some(session) = record.session_id() {
        let _ = write!(
            body,
            r#"<dt>Session</dt><dd><a id="session-link" href="/sessions/{}">{}</a></dd>"#,
            segment(session),
            escape(session)
        );
    }
    for (key, label) in [("step_type", "Step"), ("attempt_number", "Attempt")] {
        if let Some(value) = record.metadata.get(key) {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            let _ = write!(body, "<dt>{label}</dt><dd>{}</dd>", escape(&text));
        }
    }
    let outcome = record.error.as_ref().map_or("ok", |e| e.kind.as_str());
    let _ = write!(
        body,
        r#"<dt>Outcome</dt><dd class="{}">{}</dd></dl>"#,
        if record.is_error() { "err" } else { "ok" },
        escape(outcome)
    );
    if let Some(system) = &record.system_prompt {
        body.push_str(&section("System prompt", "system", &pre(system)));
    }
    let mut conversation = String::new();
    for m in &record.messages {
        conversation.push_str(&message_html(m));
    }
    conversation.push_str(&message("user", &record.prompt, ""));
    body.push_str(&section("Conversation", "conversation", &conversation));
    if !record.tools.is_empty() {
        let mut tools = String::new();
        for tool in &record.tools {
            let _ = write!(
                tools,
                "<h3>{}</h3><p>{}</p>{}",
                escape(&tool.name),
                escape(&tool.description),
                json(&tool.parameters)
            );
        }
        body.push_str(&section("Tools", "tools", &tools));
    }
    body.push_str(&section(
        "Parameters",
        "parameters",
        &json(&record.parameters),
    ));
    if let Some(response) = &record.response {
        let calls = if response.tool_calls.is_empty() {
            String::new()
        } else {
            format!("<h3>Tool calls</h3>{}", json(&response.tool_calls))
        };
        body.push_str(&section(
            "Answer",
            "answer",
            &message("assistant", &response.content, &calls),
        ));
        let usage = response.usage.map_or_else(
            || "<p>Not reported.</p>".to_owned(),
            |u| {
                format!(
                    "<dl class=\"facts\"><dt>Prompt</dt><dd>{}</dd><dt>Completion</dt><dd>{}</dd><dt>Total</dt><dd>{}</dd></dl>",
                    u.prompt_tokens, u.completion_tokens, u.total_tokens
                )
            },
        );
        body.push_str(&section("Usage", "usage", &usage));
    }
    let response = record.response.as_ref();
    let timing = format!(
        "<dl class=\"facts\"><dt>Duration</dt><dd>{}</dd><dt>Time to first token</dt><dd>{}</dd><dt>Finish reason</dt><dd>{}</dd><dt>Streamed</dt><dd>{}</dd></dl>",
        millis(record.duration_ms()),
        response
            .and_then(|r| r.time_to_first_token_ms)
            .map_or_else(|| "–".to_owned(), millis),
        or_dash(response.and_then(|r| r.finish_reason.as_deref())),
        record.stream,
    );
    body.push_str(&section("Timing", "timing", &timing));
    if let Some(error) = &record.error {
        let text = format!(
            "<dl class=\"facts\"><dt>Kind</dt><dd class=\"err\">{}</dd><dt>Message</dt><dd>{}</dd><dt>HTTP status</dt><dd>{}</dd><dt>Retryable</dt><dd>{}</dd></dl>",
            escape(error.kind.as_str()),
            pre(&error.message),
            or_dash(error.status),
            error.retryable
        );
        body.push_str(&section("Error", "error", &text));
    }
    body.push_str(&scores::section(&record.trace_id.to_string(), scores));
    body.push_str(&section("Metadata", "metadata", &json(&record.metadata)));
    body.push_str(&format!(
        r#"<details id="raw"><summary>Raw JSON</summary>{}</details>"#,
        json(record)
    ));
    body
}

fn message_html(m: &Message) -> String {
    let role = serde_json::to_value(m.role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let extra = if m.tool_calls.is_empty() {
        String::new()
    } else {
        json(&m.tool_calls)
    };
    message(&role, &m.content, &extra)
}

pub(super) async fn session(State(store): State<SqliteStore>, Path(id): Path<String>) -> Response {
    let lookup = id.clone();
    respond(
        query(&store, move |s| s.session(&lookup))
            .await
            .and_then(|view| view.ok_or_else(|| UiError::NotFound(format!("session {id}"))))
            .map(|view| {
                let errors = view.traces.iter().filter(|t| t.outcome != "ok").count();
                let body = format!(
                    "<h1>Session <code>{}</code></h1><p>{} steps, {} failed. <a href=\"/?session={}\">In the trace list</a></p>{}",
                    escape(&view.session_id),
                    view.traces.len(),
                    errors,
                    escape(&encode(&view.session_id)),
                    trace_table(&view.traces, TableKind::Session)
                );
                page(StatusCode::OK, &format!("Session {}", view.session_id), &body)
            }),
    )
}

pub(super) async fn summary(
    State(store): State<SqliteStore>,
    Query(filter): Query<TraceFilter>,
) -> Response {
    respond(
        query(&store, move |s| s.summary(&filter))
            .await
            .map(|summary| page(StatusCode::OK, "Summary", &summary_body(&summary))),
    )
}

fn summary_body(s: &Summary) -> String {
    let rate = if s.calls > 0 {
        format!("{:.1}%", s.errors as f64 * 100.0 / s.calls as f64)
    } else {
        "–".to_owned()
    };
    let mut body = format!(
        "<h1>Summary</h1><dl class=\"facts figures\"><dt>Calls</dt><dd id=\"calls\">{}</dd><dt>Errors</dt><dd>{} ({rate})</dd><dt>Tokens</dt><dd>{}</dd><dt>Cost</dt><dd>{}</dd><dt>Latency avg / p50 / p95</dt><dd>{} / {} / {}</dd><dt>From</dt><dd>{}</dd><dt>To</dt><dd>{}</dd></dl>",
        s.calls,
        s.errors,
        s.total_tokens,
        s.cost
            .map_or_else(|| "–".to_owned(), |c| format!("${c:.4}")),
        s.latency_avg_ms.map_or_else(|| "–".to_owned(), millis),
        s.latency_p50_ms.map_or_else(|| "–".to_owned(), millis),
        s.latency_p95_ms.map_or_else(|| "–".to_owned(), millis),
        s.first.as_deref().map_or_else(|| "–".to_owned(), time),
        s.last.as_deref().map_or_else(|| "–".to_owned(), time),
    );
    body.push_str("<h2>By model</h2><table class=\"traces\"><thead><tr><th>Provider / model</th><th>Calls</th><th>Errors</th><th>Tokens</th><th>Avg latency</th></tr></thead><tbody>");
    for g in &s.by_model {
        let _ = write!(
            body,
            "<tr><td><a href=\"/?provider={}&amp;model={}\">{} / {}</a></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&encode(&g.provider)),
            escape(&encode(&g.model)),
            escape(&g.provider),
            escape(&g.model),
            g.calls,
            g.errors,
            g.total_tokens,
            millis(g.latency_avg_ms)
        );
    }
    body.push_str("</tbody></table>");
    if !s.by_prompt.is_empty() {
        body.push_str("<h2>Prompt versions</h2><table class=\"traces\" id=\"prompts\"><thead><tr><th>Prompt</th><th>Version</th><th>Calls</th><th>Errors</th><th>Tokens</th><th>Avg latency</th><th>Cost</th><th>Avg scores</th></tr></thead><tbody>");
        for p in &s.by_prompt {
            let version = p.version.as_deref().unwrap_or("");
            let scores = p
                .scores
                .iter()
                .map(|(name, mean)| {
                    format!(r#"<span class="score">{}: {mean:.2}</span>"#, escape(name))
                })
                .collect::<Vec<_>>()
                .join(" ");
            let _ = write!(
                body,
                "<tr><td>{}</td><td><a href=\"/?prompt_name={}&amp;prompt_version={}\">{}</a></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"scores\">{scores}</td></tr>",
                escape(&p.name),
                escape(&encode(&p.name)),
                escape(&encode(version)),
                or_dash(p.version.as_deref()),
                p.calls,
                p.errors,
                p.total_tokens,
                millis(p.latency_avg_ms),
                p.cost
                    .map_or_else(|| "–".to_owned(), |c| format!("${c:.4}")),
            );
        }
        body.push_str("</tbody></table>");
    }
    body.push_str("<div class=\"charts\">");
    let histogram: Vec<(String, f64)> = s
        .latency_histogram
        .iter()
        .map(|(bound, calls)| {
            let label = bound.map_or_else(|| "slower".to_owned(), |b| format!("< {}", millis(b)));
            (label, *calls as f64)
        })
        .collect();
    body.push_str(&bars("Latency distribution (calls)", &histogram));
    let label = |start: &str| start.get(..16).unwrap_or(start).replace('T', " ");
    let calls: Vec<(String, f64)> = s
        .over_time
        .iter()
        .map(|b| (label(&b.start), b.calls as f64))
        .collect();
    body.push_str(&bars("Calls over time", &calls));
    let tokens: Vec<(String, f64)> = s
        .over_time
        .iter()
        .map(|b| (label(&b.start), b.total_tokens as f64))
        .collect();
    body.push_str(&bars("Tokens over time", &tokens));
    let by_model: Vec<(String, f64)> = s
        .by_model
        .iter()
        .map(|g| (g.model.clone(), g.calls as f64))
        .collect();
    body.push_str(&bars("Calls by model", &by_model));
    body.push_str("</div>");
    body
}

/// `text` percent-encoded as a query value.
fn encode(text: &str) -> String {
    serde_urlencoded::to_string([("v", text)])
        .map(|s| s[2..].to_owned())
        .unwrap_or_default()
}
