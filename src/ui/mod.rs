//! The local trace viewer: a web page and a JSON API over a [`SqliteStore`].
//!
//! Pages are rendered on the server, every piece of trace data passing through one escaping
//! helper; the CSS and the small script are embedded in the binary (no CDN, no build step), and
//! a Content Security Policy forbids inline scripts, so a prompt holding `<script>` is shown,
//! never run.
//!
//! | Path | What |
//! |---|---|
//! | `/` | trace list, newest first, with filters (the [`TraceFilter`] query) |
//! | `/traces/{id}` | one trace |
//! | `/sessions/{id}` | a session's steps in order |
//! | `/summary` | summary figures and charts |
//! | `/api/traces` | a [`Page`](crate::exporter::Page) of traces as JSON (same query) |
//! | `/api/traces/{id}` | the whole record |
//! | `/api/sessions/{id}` | a [`SessionView`](crate::exporter::SessionView) |
//! | `/api/summary` | a [`Summary`](crate::exporter::Summary) (same filters) |
//! | `POST /api/traces/{id}/scores` | sets a [`Score`](crate::exporter::Score) (JSON); `201` and the trace's scores |
//! | `POST /traces/{id}/scores` | the trace page's score form |
//!
//! ```no_run
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! use llmtrace::exporter::SqliteStore;
//!
//! let store = SqliteStore::open("traces.db")?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4001").await?;
//! llmtrace::ui::serve(listener, store).await?;
//! # Ok(())
//! # }
//! ```

mod api;
mod chart;
mod html;
mod pages;
mod scores;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::exporter::{SqliteStore, StoreError, TraceFilter};

/// The address `llmtrace ui` listens on unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4001";

/// The viewer's routes (pages, API and assets) over `store`, to serve alone ([`serve`]) or
/// to nest in another axum application.
pub fn router(store: SqliteStore) -> Router {
    Router::new()
        .route("/", get(pages::list))
        .route("/traces/{id}", get(pages::trace))
        .route("/traces/{id}/scores", post(scores::form))
        .route("/sessions/{id}", get(pages::session))
        .route("/summary", get(pages::summary))
        .route("/api/traces", get(api::traces))
        .route("/api/traces/{id}", get(api::trace))
        .route("/api/traces/{id}/scores", post(scores::api))
        .route("/api/sessions/{id}", get(api::session))
        .route("/api/summary", get(api::summary))
        .route("/assets/style.css", get(style))
        .route("/assets/app.js", get(script))
        .with_state(store)
}

/// Serves the viewer on `listener` until the task is dropped.
///
/// # Errors
/// When accepting connections fails.
pub async fn serve(listener: tokio::net::TcpListener, store: SqliteStore) -> std::io::Result<()> {
    axum::serve(listener, router(store)).await
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/style.css"))
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Why a page or API call failed.
#[derive(Debug, thiserror::Error)]
enum UiError {
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store query stopped: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl UiError {
    fn status(&self) -> StatusCode {
        match self {
            UiError::NotFound(_) | UiError::Store(StoreError::UnknownTrace(_)) => {
                StatusCode::NOT_FOUND
            }
            UiError::Store(StoreError::BadFilter { .. } | StoreError::BadScore { .. }) => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Runs a store query off the async threads (SQLite blocks).
async fn query<T: Send + 'static>(
    store: &SqliteStore,
    f: impl FnOnce(&SqliteStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, UiError> {
    let store = store.clone();
    Ok(tokio::task::spawn_blocking(move || f(&store)).await??)
}

/// The query string of `filter` (without `cursor` unless `keep_cursor`), for links.
fn query_string(filter: &TraceFilter, keep_cursor: bool) -> String {
    let mut filter = filter.clone();
    if !keep_cursor {
        filter.cursor = None;
    }
    // Empty form fields are dropped so links stay short.
    for field in [
        &mut filter.session,
        &mut filter.model,
        &mut filter.provider,
        &mut filter.outcome,
        &mut filter.meta,
        &mut filter.prompt_name,
        &mut filter.prompt_version,
        &mut filter.score,
        &mut filter.from,
        &mut filter.to,
        &mut filter.q,
        &mut filter.cursor,
    ] {
        if field.as_deref().is_some_and(|v| v.trim().is_empty()) {
            *field = None;
        }
    }
    serde_urlencoded::to_string(&filter).unwrap_or_default()
}
