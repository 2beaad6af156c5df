//! The JSON API: the same queries as the pages.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};

use super::{UiError, query};
use crate::exporter::{SqliteStore, TraceFilter};

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.to_string() });
        (self.status(), Json(body)).into_response()
    }
}

pub(super) async fn traces(
    State(store): State<SqliteStore>,
    Query(filter): Query<TraceFilter>,
) -> Result<Response, UiError> {
    let page = query(&store, move |s| s.traces(&filter)).await?;
    Ok(Json(page).into_response())
}

pub(super) async fn trace(
    State(store): State<SqliteStore>,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let lookup = id.clone();
    let record = query(&store, move |s| s.trace(&lookup)).await?;
    let record = record.ok_or_else(|| UiError::NotFound(format!("trace {id}")))?;
    Ok(Json(record).into_response())
}

pub(super) async fn session(
    State(store): State<SqliteStore>,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let lookup = id.clone();
    let session = query(&store, move |s| s.session(&lookup)).await?;
    let session = session.ok_or_else(|| UiError::NotFound(format!("session {id}")))?;
    Ok(Json(session).into_response())
}

pub(super) async fn summary(
    State(store): State<SqliteStore>,
    Query(filter): Query<TraceFilter>,
) -> Result<Response, UiError> {
    let summary = query(&store, move |s| s.summary(&filter)).await?;
    Ok(Json(summary).into_response())
}
