//! The `repr(C)` types that cross the boundary.
//!
//! Integer newtypes stand where an enum would be natural: a Rust enum read from foreign memory
//! with an unknown discriminant is undefined behaviour, an unknown integer is just a value.

use std::ffi::c_void;
use std::fmt;

use crate::{ABI_MAGIC, ABI_MAJOR, ABI_MINOR, API_VERSION};
use crate::{ExporterPlugin, ProviderPlugin, shim};

/// Outcome of a plugin call.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub u32);

impl Status {
    /// The call succeeded.
    pub const OK: Status = Status(0);
    /// The plugin reports a failure. The error buffer holds `{"kind", "message", "retryable"}`
    /// JSON ([`PluginError`](crate::PluginError)) or plain UTF-8 text (the message, kind
    /// `internal`); it may be empty.
    pub const ERROR: Status = Status(1);
    /// The instance is broken (a Rust panic, a caught C++ exception): the host never calls it
    /// again, not even `destroy`. The error buffer, JSON or text like ERROR's, says why.
    pub const PANICKED: Status = Status(2);
    /// The plugin could not read what the host sent (bad JSON, unknown schema, null pointer).
    /// The error buffer, JSON or text like ERROR's (text gets kind `invalid_request`), says
    /// why. Never retried.
    pub const BAD_INPUT: Status = Status(3);
}

/// What a plugin provides.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kind(pub u32);

impl Kind {
    /// Receives batches of trace records ([`ExporterDeclV1`]).
    pub const EXPORTER: Kind = Kind(1);
    /// Answers generation requests ([`ProviderDeclV1`]).
    pub const PROVIDER: Kind = Kind(2);
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Kind::EXPORTER => f.write_str("exporter"),
            Kind::PROVIDER => f.write_str("provider"),
            Kind(other) => write!(f, "unknown kind {other}"),
        }
    }
}

/// Header flag bits.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u32);

impl Flags {
    /// No flag set.
    pub const NONE: Flags = Flags(0);
    /// One instance may be called from several threads at once. Without it the host
    /// serializes the calls of each instance.
    pub const THREAD_SAFE: Flags = Flags(1);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

/// Bytes borrowed across the boundary, never NUL-terminated: inputs are valid for the
/// duration of one call only (copy what you keep); header strings are static.
///
/// Creating one is safe; reading one ([`as_slice`](Self::as_slice)) is not, because nothing
/// ties the pointer to a lifetime.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Bytes {
    /// First byte; may be null when `len` is 0.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

// SAFETY: `Bytes` is a pointer to immutable bytes; reading them is already `unsafe` and
// requires the reader to know they are alive, on any thread. Header strings are statics.
unsafe impl Send for Bytes {}
// SAFETY: as above; shared access never mutates.
unsafe impl Sync for Bytes {}

impl Bytes {
    /// No bytes.
    pub const EMPTY: Bytes = Bytes {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// Bytes that live forever (header strings).
    pub const fn from_static(bytes: &'static [u8]) -> Bytes {
        Bytes {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// Borrows `bytes` for a call. The result must not be read after `bytes` is gone.
    pub fn borrowed(bytes: &[u8]) -> Bytes {
        Bytes {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// The bytes as a slice; empty when the pointer is null.
    ///
    /// # Safety
    /// Unless `ptr` is null, `ptr..ptr+len` must be readable, initialized memory that stays
    /// alive and unchanged for `'a`.
    pub unsafe fn as_slice<'a>(&self) -> &'a [u8] {
        if self.ptr.is_null() || self.len == 0 {
            return &[];
        }
        // SAFETY: non-null, and the caller guarantees the range is alive and readable for 'a.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A buffer allocated by the plugin and handed to the host through an out-parameter (`err`,
/// `response`), which the host initialises to `{NULL, 0, 0}` ("no buffer") and never passes
/// as null. The host reads `len` bytes (not NUL-terminated) and gives every non-null buffer
/// back exactly once to the same declaration's `free_buf`, possibly from another thread. The
/// host never frees it itself: the plugin may use any allocator.
///
/// Deliberately neither `Copy` nor `Clone`, so that a buffer is freed once.
#[repr(C)]
#[derive(Debug)]
pub struct OwnedBuf {
    /// First byte; null for "no buffer".
    pub ptr: *mut u8,
    /// Number of initialized bytes.
    pub len: usize,
    /// For the plugin's `free_buf` only (the host never reads it): the allocated capacity,
    /// or anything else the plugin needs to free the buffer.
    pub cap: usize,
}

// SAFETY: an `OwnedBuf` owns its allocation exclusively; Rust allocators are thread-safe, so
// the buffer may be freed on any thread.
unsafe impl Send for OwnedBuf {}

impl OwnedBuf {
    /// No buffer.
    pub const EMPTY: OwnedBuf = OwnedBuf {
        ptr: std::ptr::null_mut(),
        len: 0,
        cap: 0,
    };

    /// Hands `bytes` over; the allocation is released by [`free_buf`](crate::shim::free_buf)
    /// in the same binary.
    pub fn from_vec(bytes: Vec<u8>) -> OwnedBuf {
        let mut bytes = std::mem::ManuallyDrop::new(bytes);
        OwnedBuf {
            ptr: bytes.as_mut_ptr(),
            len: bytes.len(),
            cap: bytes.capacity(),
        }
    }

    /// True for "no buffer".
    pub fn is_null(&self) -> bool {
        self.ptr.is_null()
    }

    /// The bytes; empty for "no buffer".
    ///
    /// # Safety
    /// Unless `ptr` is null, the buffer must come from a plugin call (so `ptr..ptr+len` is
    /// initialized) and must not have been freed.
    pub unsafe fn as_slice(&self) -> &[u8] {
        if self.ptr.is_null() {
            return &[];
        }
        // SAFETY: non-null; the caller guarantees the buffer is a live plugin allocation of
        // `len` initialized bytes, and `&self` keeps it from being freed meanwhile.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Takes the allocation back as the `Vec` it came from.
    ///
    /// # Safety
    /// The buffer must come from [`from_vec`](Self::from_vec) in this same binary (same
    /// allocator), and must not be null.
    pub unsafe fn into_vec(self) -> Vec<u8> {
        // SAFETY: the caller guarantees ptr/len/cap are the raw parts of a Vec<u8> allocated by
        // this binary's global allocator.
        unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) }
    }
}

/// The frozen first part of every declaration. Its layout never changes, whatever
/// [`ABI_MAJOR`] becomes, so that any host can read any plugin's header and say what is wrong.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PluginHeader {
    /// Always [`ABI_MAGIC`], as a native-endian integer.
    pub magic: u64,
    /// The [`ABI_MAJOR`] the plugin was built with.
    pub abi_major: u16,
    /// The [`ABI_MINOR`] the plugin was built with.
    pub abi_minor: u16,
    /// What the declaration behind this header is.
    pub kind: Kind,
    /// `size_of` the whole declaration, as compiled into the plugin.
    pub decl_size: u32,
    /// The plugin's name (UTF-8, static): the provider name in traces.
    pub name: Bytes,
    /// The plugin's own version (UTF-8, static).
    pub plugin_version: Bytes,
    /// Informational, never checked: the [`API_VERSION`] of `llmtrace-plugin-abi` a Rust
    /// plugin was built against (UTF-8, static). Empty (`{NULL, 0}`) for other languages.
    pub api_version: Bytes,
    /// [`Flags`] bits.
    pub flags: Flags,
}

impl PluginHeader {
    /// A header for a declaration of `kind` and `decl_size` bytes, with this crate's magic
    /// and versions.
    pub const fn new(
        kind: Kind,
        decl_size: usize,
        name: &'static str,
        plugin_version: &'static str,
        flags: Flags,
    ) -> PluginHeader {
        PluginHeader {
            magic: ABI_MAGIC,
            abi_major: ABI_MAJOR,
            abi_minor: ABI_MINOR,
            kind,
            decl_size: decl_size as u32,
            name: Bytes::from_static(name.as_bytes()),
            plugin_version: Bytes::from_static(plugin_version.as_bytes()),
            api_version: Bytes::from_static(API_VERSION.as_bytes()),
            flags,
        }
    }
}

/// Releases a buffer the plugin allocated.
pub type FreeBufFn = unsafe extern "C" fn(buf: OwnedBuf);

/// Creates an instance from options (JSON bytes). On [`Status::OK`] it writes the instance to
/// `instance`; otherwise it may write an error to `err`.
pub type CreateFn =
    unsafe extern "C" fn(options: Bytes, instance: *mut *mut c_void, err: *mut OwnedBuf) -> Status;

/// Exports one batch ([`ExportBatch`](crate::ExportBatch) JSON).
pub type ExportFn =
    unsafe extern "C" fn(instance: *mut c_void, batch: Bytes, err: *mut OwnedBuf) -> Status;

/// Makes everything exported so far durable.
pub type FlushFn = unsafe extern "C" fn(instance: *mut c_void, err: *mut OwnedBuf) -> Status;

/// Drops an instance. Never called on an instance that panicked.
pub type DestroyFn = unsafe extern "C" fn(instance: *mut c_void);

/// Answers one request ([`ProviderRequest`](crate::ProviderRequest) JSON) with a
/// [`ProviderResponse`](crate::ProviderResponse) in `response`. Blocking.
pub type GenerateFn = unsafe extern "C" fn(
    instance: *mut c_void,
    request: Bytes,
    response: *mut OwnedBuf,
    err: *mut OwnedBuf,
) -> Status;

/// What an exporter plugin declares (ABI 1.0).
///
/// Every function is required; they are `Option`s only so that a null pointer from a
/// non-Rust plugin is a value the host can reject rather than undefined behaviour. Later ABI
/// minors append optional functions here; the host reads one only when `header.decl_size`
/// covers it.
#[repr(C)]
#[derive(Debug)]
pub struct ExporterDeclV1 {
    /// The frozen header, `kind` = [`Kind::EXPORTER`].
    pub header: PluginHeader,
    /// Releases a buffer another function of this declaration returned ([`FreeBufFn`]).
    pub free_buf: Option<unsafe extern "C" fn(buf: OwnedBuf)>,
    /// Creates an instance from the options JSON ([`CreateFn`]).
    pub create: Option<
        unsafe extern "C" fn(
            options: Bytes,
            instance: *mut *mut c_void,
            err: *mut OwnedBuf,
        ) -> Status,
    >,
    /// Exports one batch ([`ExportFn`]).
    pub export: Option<
        unsafe extern "C" fn(instance: *mut c_void, batch: Bytes, err: *mut OwnedBuf) -> Status,
    >,
    /// Makes everything exported so far durable ([`FlushFn`]).
    pub flush: Option<unsafe extern "C" fn(instance: *mut c_void, err: *mut OwnedBuf) -> Status>,
    /// Drops an instance ([`DestroyFn`]).
    pub destroy: Option<unsafe extern "C" fn(instance: *mut c_void)>,
}

impl ExporterDeclV1 {
    /// The declaration of exporter `T`, named `name` at version `version`.
    pub const fn new<T: ExporterPlugin>(name: &'static str, version: &'static str) -> Self {
        ExporterDeclV1 {
            header: PluginHeader::new(
                Kind::EXPORTER,
                size_of::<Self>(),
                name,
                version,
                Flags::NONE,
            ),
            free_buf: Some(shim::free_buf),
            create: Some(shim::exporter_create::<T>),
            export: Some(shim::exporter_export::<T>),
            flush: Some(shim::exporter_flush::<T>),
            destroy: Some(shim::exporter_destroy::<T>),
        }
    }
}

/// What a provider plugin declares (ABI 1.0). Same rules as [`ExporterDeclV1`].
#[repr(C)]
#[derive(Debug)]
pub struct ProviderDeclV1 {
    /// The frozen header, `kind` = [`Kind::PROVIDER`].
    pub header: PluginHeader,
    /// Releases a buffer another function of this declaration returned ([`FreeBufFn`]).
    pub free_buf: Option<unsafe extern "C" fn(buf: OwnedBuf)>,
    /// Creates an instance from the options JSON ([`CreateFn`]).
    pub create: Option<
        unsafe extern "C" fn(
            options: Bytes,
            instance: *mut *mut c_void,
            err: *mut OwnedBuf,
        ) -> Status,
    >,
    /// Answers one request ([`GenerateFn`]).
    pub generate: Option<
        unsafe extern "C" fn(
            instance: *mut c_void,
            request: Bytes,
            response: *mut OwnedBuf,
            err: *mut OwnedBuf,
        ) -> Status,
    >,
    /// Drops an instance ([`DestroyFn`]).
    pub destroy: Option<unsafe extern "C" fn(instance: *mut c_void)>,
}

impl ProviderDeclV1 {
    /// The declaration of provider `T`, whose instances the host calls one call at a time.
    pub const fn new<T: ProviderPlugin>(name: &'static str, version: &'static str) -> Self {
        Self::with_flags::<T>(name, version, Flags::NONE)
    }

    /// The declaration of provider `T`, whose instances the host may call from several
    /// threads at once ([`Flags::THREAD_SAFE`]); hence `T: Sync`.
    pub const fn new_thread_safe<T: ProviderPlugin + Sync>(
        name: &'static str,
        version: &'static str,
    ) -> Self {
        Self::with_flags::<T>(name, version, Flags::THREAD_SAFE)
    }

    const fn with_flags<T: ProviderPlugin>(
        name: &'static str,
        version: &'static str,
        flags: Flags,
    ) -> Self {
        ProviderDeclV1 {
            header: PluginHeader::new(Kind::PROVIDER, size_of::<Self>(), name, version, flags),
            free_buf: Some(shim::free_buf),
            create: Some(shim::provider_create::<T>),
            generate: Some(shim::provider_generate::<T>),
            destroy: Some(shim::provider_destroy::<T>),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::*;

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_header_layout_is_frozen() {
        assert_eq!(offset_of!(PluginHeader, magic), 0);
        assert_eq!(offset_of!(PluginHeader, abi_major), 8);
        assert_eq!(offset_of!(PluginHeader, abi_minor), 10);
        assert_eq!(offset_of!(PluginHeader, kind), 12);
        assert_eq!(offset_of!(PluginHeader, decl_size), 16);
        assert_eq!(offset_of!(PluginHeader, name), 24);
        assert_eq!(offset_of!(PluginHeader, plugin_version), 40);
        assert_eq!(offset_of!(PluginHeader, api_version), 56);
        assert_eq!(offset_of!(PluginHeader, flags), 72);
        assert_eq!(size_of::<PluginHeader>(), 80);
    }

    #[test]
    fn declarations_start_with_their_header() {
        assert_eq!(offset_of!(ExporterDeclV1, header), 0);
        assert_eq!(offset_of!(ProviderDeclV1, header), 0);
        assert_eq!(size_of::<Option<FreeBufFn>>(), size_of::<usize>());
    }

    #[test]
    fn kinds_name_themselves() {
        assert_eq!(Kind::EXPORTER.to_string(), "exporter");
        assert_eq!(Kind::PROVIDER.to_string(), "provider");
        assert_eq!(Kind(7).to_string(), "unknown kind 7");
    }

    #[test]
    fn owned_buffers_round_trip_through_their_raw_parts() {
        let buf = OwnedBuf::from_vec(b"hello".to_vec());
        // SAFETY: `buf` was just made by `from_vec` in this binary and not freed.
        assert_eq!(unsafe { buf.as_slice() }, b"hello");
        // SAFETY: as above; it is consumed here, once.
        assert_eq!(unsafe { buf.into_vec() }, b"hello".to_vec());
        // SAFETY: a null buffer reads as empty.
        assert_eq!(unsafe { OwnedBuf::EMPTY.as_slice() }, b"");
    }
}
