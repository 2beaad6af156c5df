//! A live plugin instance: serialized or shared calls, status mapping, poisoning, and the
//! buffers the plugin hands out.

use std::ffi::c_void;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use llmtrace_plugin_abi::{self as abi, Bytes, DestroyFn, FreeBufFn, OwnedBuf, Status};
use serde_json::Value;

use super::loader::{CommonVtable, RawInstance};
use super::{PluginError, PluginInfo};

/// One instance created by a plugin, owned by the host until dropped.
pub(super) struct Instance {
    info: Arc<PluginInfo>,
    free_buf: FreeBufFn,
    destroy: DestroyFn,
    access: Access,
    /// Set when a call panicked: the instance's state is unknown, so it is never called again
    /// (not even `destroy`).
    poisoned: AtomicBool,
}

enum Access {
    /// Not thread-safe: one call at a time.
    Exclusive(Mutex<RawInstance>),
    /// Declared thread-safe: concurrent calls allowed.
    Shared(SharedInstance),
}

struct SharedInstance(RawInstance);

// SAFETY: built only for plugins whose header sets `THREAD_SAFE`, which promises that one
// instance may be called from several threads at once (the ABI crate allows the flag only
// for `Sync` plugin types).
unsafe impl Sync for SharedInstance {}

impl Instance {
    /// Creates an instance from `options` (sent as JSON).
    pub(super) fn create(
        info: Arc<PluginInfo>,
        vtable: CommonVtable,
        options: &Value,
    ) -> Result<Self, PluginError> {
        // `Value`'s `Display` is its compact JSON, and cannot fail.
        let options = options.to_string().into_bytes();
        let mut raw: *mut c_void = ptr::null_mut();
        let mut err = OwnedBuf::EMPTY;
        // SAFETY: `create` is this plugin's, checked non-null when loading; `options` outlives
        // the call; `raw` and `err` are valid places for the plugin to write to.
        let status = unsafe { (vtable.create)(Bytes::borrowed(&options), &mut raw, &mut err) };
        let err = PluginBuf::new(err, vtable.free_buf);
        // A panic in `create` leaves no instance behind to poison.
        outcome(&info, status, err.bytes())?;
        let raw = NonNull::new(raw)
            .ok_or_else(|| protocol(&info, "`create` returned OK without an instance"))?;
        let raw = RawInstance(raw);
        let access = if info.thread_safe {
            Access::Shared(SharedInstance(raw))
        } else {
            Access::Exclusive(Mutex::new(raw))
        };
        Ok(Instance {
            info,
            free_buf: vtable.free_buf,
            destroy: vtable.destroy,
            access,
            poisoned: AtomicBool::new(false),
        })
    }

    /// What the plugin declared.
    pub(super) fn info(&self) -> &Arc<PluginInfo> {
        &self.info
    }

    /// Calls the plugin: `call` gets the instance pointer and the error buffer and makes the
    /// foreign call. Calls are serialized unless the plugin is thread-safe. Blocking: run it
    /// off the async executor.
    ///
    /// # Errors
    /// What the status says; a panic poisons the instance, and every later call is
    /// [`PluginError::Poisoned`].
    pub(super) fn call(
        &self,
        call: impl FnOnce(*mut c_void, *mut OwnedBuf) -> Status,
    ) -> Result<(), PluginError> {
        self.check_poisoned()?;
        let mut err = OwnedBuf::EMPTY;
        let status = match &self.access {
            Access::Exclusive(instance) => {
                let instance = instance.lock().unwrap_or_else(PoisonError::into_inner);
                // Another call may have panicked while this one waited for the lock.
                self.check_poisoned()?;
                call(instance.as_ptr(), &mut err)
            }
            Access::Shared(instance) => call(instance.0.as_ptr(), &mut err),
        };
        let err = self.buf(err);
        let result = outcome(&self.info, status, err.bytes());
        if let Err(PluginError::Panicked { message, .. }) = &result {
            self.poison(message);
        }
        result
    }

    /// Takes ownership of a buffer this plugin returned; it goes back to the plugin on drop.
    pub(super) fn buf(&self, buf: OwnedBuf) -> PluginBuf {
        PluginBuf::new(buf, self.free_buf)
    }

    fn check_poisoned(&self) -> Result<(), PluginError> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(PluginError::Poisoned {
                path: self.info.path.clone(),
                name: self.info.name.clone(),
            });
        }
        Ok(())
    }

    fn poison(&self, message: &str) {
        // Logged once, by the call that poisoned it; later calls only return `Poisoned`.
        if !self.poisoned.swap(true, Ordering::AcqRel) {
            tracing::error!(
                plugin = %self.info.name,
                path = %self.info.path.display(),
                panic = %message,
                "Plugin panicked; the instance is poisoned and will not be called again."
            );
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if *self.poisoned.get_mut() {
            // Its state is unknown after a panic: leak it rather than run its destructor.
            return;
        }
        let raw = match &mut self.access {
            Access::Exclusive(instance) => {
                instance.get_mut().unwrap_or_else(PoisonError::into_inner)
            }
            Access::Shared(instance) => &mut instance.0,
        };
        let raw = RawInstance(raw.0);
        let destroy = self.destroy;
        let job = move || {
            // SAFETY: `destroy` is this plugin's, checked non-null when loading; `raw` came
            // from its `create`, and this is the last use: the instance's only owner is
            // being dropped, and no call is in progress (calls borrow the owner).
            unsafe { destroy(raw.as_ptr()) }
        };
        // A destructor may block (flushing a file): keep it off the async executor.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(job)),
            Err(_) => job(),
        }
    }
}

/// A buffer allocated by a plugin; given back to the plugin's `free_buf` on drop, never freed
/// by the host's allocator.
pub(super) struct PluginBuf {
    buf: OwnedBuf,
    free: FreeBufFn,
}

impl PluginBuf {
    fn new(buf: OwnedBuf, free: FreeBufFn) -> Self {
        PluginBuf { buf, free }
    }

    /// The bytes (empty when the plugin wrote nothing).
    pub(super) fn bytes(&self) -> &[u8] {
        // SAFETY: the buffer is null or was written by a call of the plugin whose `free_buf`
        // this is, and it is freed only when `self` drops, after this borrow ends.
        unsafe { self.buf.as_slice() }
    }
}

impl Drop for PluginBuf {
    fn drop(&mut self) {
        let buf = std::mem::replace(&mut self.buf, OwnedBuf::EMPTY);
        if !buf.is_null() {
            // SAFETY: the buffer came from the plugin that owns `free`, and is freed exactly
            // once (it was just replaced with the null buffer).
            unsafe { (self.free)(buf) }
        }
    }
}

/// The result a call's status and error buffer stand for.
///
/// Every non-OK status reads its error buffer the same way ([`ReportedError::parse`]): JSON
/// or plain text, so the plugin's message is never lost.
pub(super) fn outcome(info: &PluginInfo, status: Status, err: &[u8]) -> Result<(), PluginError> {
    let error = || ReportedError::parse(err, status);
    match status {
        Status::OK => Ok(()),
        Status::PANICKED => Err(PluginError::Panicked {
            path: info.path.clone(),
            name: info.name.clone(),
            message: error().message,
        }),
        Status::ERROR | Status::BAD_INPUT => {
            let error = error();
            Err(PluginError::Plugin {
                path: info.path.clone(),
                name: info.name.clone(),
                kind: error.kind,
                message: error.message,
                retryable: error.retryable,
            })
        }
        Status(other) => Err(protocol(info, format!("unknown status code {other}"))),
    }
}

/// A plugin's error buffer, read leniently.
#[derive(Debug, PartialEq)]
pub(super) struct ReportedError {
    pub(super) kind: String,
    pub(super) message: String,
    pub(super) retryable: bool,
}

impl ReportedError {
    /// Reads the error buffer of a call that returned `status`.
    ///
    /// The buffer is a JSON object `{"kind", "message", "retryable"}` (each optional; without
    /// a message, the whole buffer is the message), or else plain UTF-8 text, which is the
    /// message. A missing kind is `internal`
    /// (`invalid_request` for [`Status::BAD_INPUT`]); a missing `retryable` is the host's
    /// default for the kind ([`retryable_by_default`]). Input the plugin could not read is
    /// never retryable: it will not read better the second time. Control characters are
    /// removed from the message (it ends up in terminals and logs); nothing else is changed.
    pub(super) fn parse(bytes: &[u8], status: Status) -> ReportedError {
        #[derive(serde::Deserialize)]
        struct Json {
            kind: Option<String>,
            message: Option<String>,
            retryable: Option<bool>,
        }
        let default_kind = if status == Status::BAD_INPUT {
            abi::error_kind::INVALID_REQUEST
        } else {
            abi::error_kind::INTERNAL
        };
        let text = || Some(String::from_utf8_lossy(bytes).into_owned());
        let (kind, message, retryable) = match serde_json::from_slice::<Json>(bytes) {
            // JSON without a message still says something: keep all of it.
            Ok(json) => (json.kind, json.message.or_else(text), json.retryable),
            Err(_) => (None, text(), None),
        };
        let kind = kind
            .filter(|kind| !kind.is_empty())
            .unwrap_or_else(|| default_kind.to_owned());
        let message = scrub(message.as_deref().unwrap_or_default());
        let message = if message.is_empty() {
            "no message".to_owned()
        } else {
            message
        };
        let retryable =
            status == Status::ERROR && retryable.unwrap_or_else(|| retryable_by_default(&kind));
        ReportedError {
            kind,
            message,
            retryable,
        }
    }
}

/// Whether the host retries an error of `kind` that does not say: the transient kinds
/// (`rate_limited`, `timeout`, `unavailable`) are retried, nothing else.
pub(super) fn retryable_by_default(kind: &str) -> bool {
    matches!(
        kind,
        abi::error_kind::RATE_LIMITED | abi::error_kind::TIMEOUT | abi::error_kind::UNAVAILABLE
    )
}

/// `text` without control characters (line breaks and tabs become spaces), trimmed.
fn scrub(text: &str) -> String {
    let spaced: String = text
        .chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    spaced.trim().to_owned()
}

pub(super) fn protocol(info: &PluginInfo, detail: impl Into<String>) -> PluginError {
    PluginError::Protocol {
        path: info.path.clone(),
        name: info.name.clone(),
        detail: detail.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8], status: Status) -> (String, String, bool) {
        let error = ReportedError::parse(bytes, status);
        (error.kind, error.message, error.retryable)
    }

    #[test]
    fn every_status_reads_json_or_text_errors_alike() {
        let json = br#"{"kind": "timeout", "message": "took too long", "retryable": false}"#;
        assert_eq!(
            parse(json, Status::ERROR),
            ("timeout".into(), "took too long".into(), false)
        );
        assert_eq!(
            parse(b"disk full", Status::ERROR),
            ("internal".into(), "disk full".into(), false)
        );
        assert_eq!(
            parse(b"expected an object", Status::BAD_INPUT),
            ("invalid_request".into(), "expected an object".into(), false)
        );
        assert_eq!(
            parse(b"segfault averted", Status::PANICKED).1,
            "segfault averted"
        );
        assert_eq!(parse(b"", Status::ERROR).1, "no message");
        let unexpected = br#"{"kind": "internal", "error": "disk full"}"#;
        assert_eq!(
            parse(unexpected, Status::ERROR).1,
            r#"{"kind": "internal", "error": "disk full"}"#,
            "JSON without a message is kept whole"
        );
    }

    #[test]
    fn the_host_decides_retries_by_kind_when_the_plugin_does_not_say() {
        for (kind, retryable) in [
            ("rate_limited", true),
            ("timeout", true),
            ("unavailable", true),
            ("invalid_request", false),
            ("internal", false),
            ("something new", false),
        ] {
            let json = format!(r#"{{"kind": "{kind}", "message": "m"}}"#);
            assert_eq!(parse(json.as_bytes(), Status::ERROR).2, retryable, "{kind}");
        }
        let said = br#"{"kind": "internal", "message": "m", "retryable": true}"#;
        assert!(parse(said, Status::ERROR).2, "the plugin's word wins");
        let bad_input = br#"{"kind": "timeout", "message": "m", "retryable": true}"#;
        assert!(
            !parse(bad_input, Status::BAD_INPUT).2,
            "bad input is never retried"
        );
    }

    #[test]
    fn messages_lose_control_characters_and_nothing_else() {
        let message = "line one\nline two\u{1b}[31m \"quoted\" é";
        let json = serde_json::json!({ "kind": "internal", "message": message }).to_string();
        assert_eq!(
            parse(json.as_bytes(), Status::ERROR).1,
            "line one line two[31m \"quoted\" é"
        );
    }
}
