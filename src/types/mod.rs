//! The data model: what goes into a generation, what comes out, and the trace record that
//! describes both.
//!
//! These types are plain serde data with no tower in sight, so exporters, plugins and readers of
//! trace files can use them without the request path.

mod lenient;
mod message;
mod record;
mod request;
mod response;
mod stream;

pub use message::{Message, Role, Tool, ToolCall};
pub use record::{TraceError, TraceRecord, TraceResponse};
pub(crate) use record::{new_trace_id, rfc3339};
pub use request::{GenerateRequest, Parameters};
pub(crate) use response::trace_id_in;
pub use response::{GenerateResponse, Generation, Usage};
pub(crate) use stream::BoxChunkStream;
pub use stream::{ResponseStream, StreamChunk};

/// Free-form key/value metadata carried by requests, responses and trace records.
///
/// Keys keep their insertion order, so reports list them the way they were added.
pub type Metadata = serde_json::Map<String, serde_json::Value>;
