//! [`Session`]: a conversation over a [`Client`], with its own history and traces.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, Weak};

use futures_core::Stream;
use futures_util::StreamExt;
use tower::{Layer, ServiceExt};

use crate::layer::SetSessionLayer;
use crate::sink::{Clock, EvictionPolicy, RecordSink, TraceStore};
use crate::types::BoxChunkStream;
use crate::{
    Client, GenerateRequest, GenerateResponse, Message, ProviderError, ResponseStream, StreamChunk,
    TraceRecord,
};

type TraceList = TraceStore;

/// A conversation: message history, a session id, a default system prompt, and the traces of
/// its own calls.
///
/// Every request goes through [`SetSession`](crate::layer::SetSession) in front of the client's
/// stack, so its trace carries `session_id`, `step_type` (default `chat`) and `attempt_number`
/// (default 1) next to the caller's own metadata. The session keeps the traces of its calls —
/// failures included — even after the client's ring buffer has evicted them; each session sees
/// only its own. Its list is bounded by an [`EvictionPolicy`] like the client's store: by
/// default the client's byte and age bounds and at least
/// [`SESSION_MAX_TRACES`](crate::client::SESSION_MAX_TRACES) traces, or the policy given to
/// [`ClientBuilder::session_eviction`](crate::ClientBuilder::session_eviction).
///
/// ```
/// use llmtrace::{Client, GenerateRequest};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), llmtrace::ProviderError> {
/// let client = Client::builder().build();
/// let session = client.session().with_system_prompt("You are a Python code generator");
///
/// session.generate(GenerateRequest::new("Create a histogram of ages")
///     .step_type("code_generation")
///     .attempt_number(1)).await?;
/// session.generate("Now label the axes").await?;
///
/// let traces = session.traces();
/// assert_eq!(traces.len(), 2);
/// assert_eq!(traces[0].metadata["step_type"], "code_generation");
/// assert_eq!(traces[1].metadata["step_type"], "chat");
/// assert_eq!(traces[1].messages.len(), 2); // the first turn, sent as history
/// # Ok(())
/// # }
/// ```
pub struct Session {
    client: Client,
    id: Arc<str>,
    tag: SetSessionLayer,
    system_prompt: Option<String>,
    /// Shared with the streams of its turns, which append to it when they end.
    history: Arc<Mutex<Vec<Message>>>,
    traces: Arc<TraceList>,
    registry: SessionRegistry,
}

impl Session {
    pub(crate) fn new(client: Client, id: String, registry: &SessionRegistry) -> Self {
        let id: Arc<str> = id.into();
        Self {
            tag: SetSessionLayer::new(&*id),
            traces: registry.join(&id),
            registry: registry.clone(),
            client,
            id,
            system_prompt: None,
            history: Arc::default(),
        }
    }

    /// Sets the system prompt used by requests that do not bring their own.
    pub fn with_system_prompt(mut self, system_prompt: impl Into<String>) -> Self {
        self.system_prompt = Some(system_prompt.into());
        self
    }

    /// The session id stamped in every trace.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The default system prompt.
    pub fn system_prompt(&self) -> Option<&str> {
        self.system_prompt.as_deref()
    }

    /// The client this session talks through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends one turn of the conversation.
    ///
    /// The request gets the session's system prompt unless it has one, and the conversation so
    /// far as `messages` unless it brings its own. On success the prompt and the answer are
    /// appended to the history; a failed turn leaves the history as it was (and is traced).
    ///
    /// # Errors
    /// The provider's error, unchanged.
    pub async fn generate(
        &self,
        request: impl Into<GenerateRequest>,
    ) -> Result<GenerateResponse, ProviderError> {
        let (request, prompt) = self.turn(request.into(), false);
        let service = self.tag.layer(self.client.service());
        let response = service.oneshot(request).await?.into_response().await?;
        lock(&self.history).extend([prompt, answer_message(&response)]);
        Ok(response)
    }

    /// Sends one turn of the conversation and streams the answer, as
    /// [`Client::stream`](crate::Client::stream) does; the turn is traced like
    /// [`generate`](Self::generate)'s, with the session id and step.
    ///
    /// The prompt and the answer are appended to the history when the stream ends; a stream
    /// that fails or is dropped before its end leaves the history as it was.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), llmtrace::ProviderError> {
    /// let client = llmtrace::Client::builder().build();
    /// let session = client.session();
    /// let mut stream = session.stream("Tell me a story").await?;
    /// while let Some(chunk) = stream.next().await {
    ///     print!("{}", chunk?.content);
    /// }
    /// assert_eq!(session.history().len(), 2);
    /// assert_eq!(session.traces()[0].metadata["session_id"], session.id());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// The provider's error when the call fails before streaming starts.
    pub async fn stream(
        &self,
        request: impl Into<GenerateRequest>,
    ) -> Result<ResponseStream, ProviderError> {
        let (request, prompt) = self.turn(request.into(), true);
        let service = self.tag.layer(self.client.service());
        let stream = service.oneshot(request).await?.into_stream();
        let history = self.history.clone();
        Ok(stream.map_chunks(|chunks| remember_turn(chunks, prompt, history)))
    }

    /// `request` as this session sends it, and the prompt as the history will keep it.
    fn turn(&self, mut request: GenerateRequest, stream: bool) -> (GenerateRequest, Message) {
        request.stream = stream;
        if request.system_prompt.is_none() {
            request.system_prompt.clone_from(&self.system_prompt);
        }
        if request.messages.is_empty() {
            request.messages = lock(&self.history).clone();
        }
        let prompt = Message::user(request.prompt.clone());
        (request, prompt)
    }

    /// The conversation so far (without system prompts), oldest first.
    pub fn history(&self) -> Vec<Message> {
        lock(&self.history).clone()
    }

    /// The traces of this session's calls, in the order they finished.
    ///
    /// Empty when the client does not trace.
    pub fn traces(&self) -> Vec<Arc<TraceRecord>> {
        self.traces.all()
    }

    /// The session's trace list, with its policy and eviction counters.
    pub fn trace_store(&self) -> &TraceStore {
        &self.traces
    }

    /// Forgets the traces collected so far (for example, after exporting them).
    pub fn clear_traces(&self) {
        self.traces.clear();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.registry.leave(&self.id, &self.traces);
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("system_prompt", &self.system_prompt)
            .field("turns", &lock(&self.history).len())
            .field("traces", &self.traces.len())
            .finish_non_exhaustive()
    }
}

/// The history entry of an answer.
fn answer_message(response: &GenerateResponse) -> Message {
    Message {
        tool_calls: response.tool_calls.clone(),
        ..Message::assistant(response.content.clone())
    }
}

/// `chunks`, passed on as they come; when they end without an error, `prompt` and the answer
/// they made are appended to `history`.
fn remember_turn(
    chunks: BoxChunkStream,
    prompt: Message,
    history: Arc<Mutex<Vec<Message>>>,
) -> impl Stream<Item = Result<StreamChunk, ProviderError>> + Send + 'static {
    let turn = Some((prompt, history));
    futures_util::stream::unfold(
        (chunks, GenerateResponse::default(), turn),
        |(mut chunks, mut answer, mut turn)| async move {
            match chunks.next().await {
                Some(Ok(chunk)) => {
                    answer.absorb(&chunk);
                    Some((Ok(chunk), (chunks, answer, turn)))
                }
                // A failed turn is not part of the conversation.
                Some(Err(error)) => Some((Err(error), (chunks, answer, None))),
                None => {
                    if let Some((prompt, history)) = turn.take() {
                        lock(&history).extend([prompt, answer_message(&answer)]);
                    }
                    None
                }
            }
        },
    )
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a single push, clone or clear: a panic elsewhere cannot
    // leave the data half-changed.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The record sink that routes each record to the live sessions with its `session_id`.
#[derive(Clone)]
pub(crate) struct SessionRegistry {
    live: Arc<RwLock<HashMap<Arc<str>, Weak<TraceList>>>>,
    /// What each session's list keeps, and the clock its age bound reads.
    policy: EvictionPolicy,
    clock: Arc<dyn Clock>,
}

impl SessionRegistry {
    /// A registry whose sessions keep what `policy` allows.
    pub(crate) fn new(policy: EvictionPolicy, clock: Arc<dyn Clock>) -> Self {
        Self {
            live: Arc::default(),
            policy,
            clock,
        }
    }

    /// The trace list of session `id`: the live one, or a new one.
    fn join(&self, id: &Arc<str>) -> Arc<TraceList> {
        let mut live = self.live.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(traces) = live.get(id).and_then(Weak::upgrade) {
            return traces;
        }
        let traces = Arc::new(TraceStore::with_clock(self.policy, self.clock.clone()));
        live.insert(id.clone(), Arc::downgrade(&traces));
        traces
    }

    /// Called by a dropped session; forgets `id` when no other session shares its list.
    fn leave(&self, id: &str, traces: &Arc<TraceList>) {
        let mut live = self.live.write().unwrap_or_else(PoisonError::into_inner);
        // Under the write lock nobody can upgrade another reference, so the count is exact.
        if Arc::strong_count(traces) == 1 {
            live.remove(id);
        }
    }
}

impl RecordSink for SessionRegistry {
    fn record(&self, record: &Arc<TraceRecord>) {
        let Some(id) = record.session_id() else {
            return;
        };
        let live = self.live.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(traces) = live.get(id).and_then(Weak::upgrade) {
            traces.push(record.clone());
        }
    }
}
