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
        outcome(&info, status, &err)?;
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
        let result = outcome(&self.info, status, &err);
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
fn outcome(info: &PluginInfo, status: Status, err: &PluginBuf) -> Result<(), PluginError> {
    match status {
        Status::OK => Ok(()),
        Status::PANICKED => Err(PluginError::Panicked {
            path: info.path.clone(),
            name: info.name.clone(),
            message: panic_message(err.bytes()),
        }),
        Status::ERROR | Status::BAD_INPUT => {
            let error: abi::PluginError =
                serde_json::from_slice(err.bytes()).map_err(|source| PluginError::InvalidJson {
                    path: info.path.clone(),
                    name: info.name.clone(),
                    what: "error",
                    source,
                })?;
            Err(PluginError::Plugin {
                path: info.path.clone(),
                name: info.name.clone(),
                kind: error.kind,
                message: error.message,
                // Input the plugin could not read will not read better the second time.
                retryable: error.retryable && status == Status::ERROR,
            })
        }
        Status(other) => Err(protocol(info, format!("unknown status code {other}"))),
    }
}

/// The panic message in an error buffer: the error's message, or the raw text.
fn panic_message(bytes: &[u8]) -> String {
    match serde_json::from_slice::<abi::PluginError>(bytes) {
        Ok(error) => error.message,
        Err(_) if bytes.is_empty() => "no message".to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

pub(super) fn protocol(info: &PluginInfo, detail: impl Into<String>) -> PluginError {
    PluginError::Protocol {
        path: info.path.clone(),
        name: info.name.clone(),
        detail: detail.into(),
    }
}
