//! Setting scores: `POST /api/traces/{id}/scores` (JSON) and the trace page's form.
//!
//! A viewer on 127.0.0.1 is reachable by any web page the user has open, so writes refuse
//! cross-site requests: the API takes only `application/json` (which a cross-site form cannot
//! send without a CORS preflight this server never grants), the form only a same-origin post.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::html::{escape, page, segment};
use super::{UiError, query};
use crate::exporter::{Score, ScoreValue, SqliteStore};

/// `POST /api/traces/{id}/scores` with a [`Score`] as JSON: `201` and the trace's scores.
pub(super) async fn api(
    State(store): State<SqliteStore>,
    Path(id): Path<String>,
    Json(score): Json<Score>,
) -> Result<Response, UiError> {
    let scores = query(&store, move |s| {
        s.score(&id, &score)?;
        s.scores(&id)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(scores)).into_response())
}

/// The trace page's form fields.
#[derive(Deserialize)]
struct Form {
    name: String,
    value: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    source: String,
}

/// `POST /traces/{id}/scores` from the trace page: back to the page (`303`), or an error page.
pub(super) async fn form(
    State(store): State<SqliteStore>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !same_origin(&headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "cross-site requests may not set scores",
        );
    }
    let form: Form = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(error) => return refuse(StatusCode::BAD_REQUEST, &format!("bad form: {error}")),
    };
    let value = form.value.trim();
    let value = value
        .parse::<f64>()
        .map_or_else(|_| ScoreValue::Label(value.to_owned()), ScoreValue::Number);
    let optional = |text: String| Some(text.trim().to_owned()).filter(|t| !t.is_empty());
    let score = Score {
        name: form.name.trim().to_owned(),
        value,
        comment: optional(form.comment),
        source: optional(form.source),
    };
    let target = format!("/traces/{}#scores", segment(&id));
    match query(&store, move |s| s.score(&id, &score)).await {
        Ok(()) => Redirect::to(&target).into_response(),
        Err(error) => refuse(error.status(), &error.to_string()),
    }
}

/// Whether the browser says the request comes from this server's own pages: `Origin` (or,
/// without it, `Sec-Fetch-Site`) must name this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        Some(origin) => {
            let origin = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            origin.is_some() && origin == host
        }
        None => headers
            .get("sec-fetch-site")
            .and_then(|s| s.to_str().ok())
            .is_none_or(|site| site == "same-origin" || site == "none"),
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    let body = format!(
        r#"<h1>Score not set</h1><p class="error">{}</p>"#,
        escape(message)
    );
    page(status, "Score not set", &body)
}

/// The trace page's scores section: the scores, then a form to set one.
pub(super) fn section(trace_id: &str, scores: &[Score]) -> String {
    let mut html = String::from(r#"<section id="scores"><h2>Scores</h2>"#);
    if scores.is_empty() {
        html.push_str(r#"<p class="empty">No scores yet.</p>"#);
    } else {
        html.push_str(r#"<dl class="facts">"#);
        for score in scores {
            let by = score
                .source
                .as_deref()
                .map_or_else(String::new, |s| format!(" <small>by {}</small>", escape(s)));
            let comment = score
                .comment
                .as_deref()
                .map_or_else(String::new, |c| format!(" — {}", escape(c)));
            html.push_str(&format!(
                "<dt>{}</dt><dd>{}{comment}{by}</dd>",
                escape(&score.name),
                escape(&value_text(&score.value)),
            ));
        }
        html.push_str("</dl>");
    }
    html.push_str(&format!(
        r#"<form class="filters" method="post" action="/traces/{}/scores"><label>Name<input name="name" required placeholder="helpfulness"></label><label>Value<input name="value" required placeholder="0.8 or a label"></label><label>Comment<input name="comment"></label><label>By<input name="source" placeholder="you"></label><button type="submit">Set score</button></form></section>"#,
        segment(trace_id)
    ));
    html
}

/// A score's value as shown: `0.8`, `correct`.
pub(super) fn value_text(value: &ScoreValue) -> String {
    match value {
        ScoreValue::Number(n) => n.to_string(),
        ScoreValue::Label(l) => l.clone(),
    }
}
