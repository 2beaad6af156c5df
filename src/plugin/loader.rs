//! Opening libraries (once, forever) and checking their headers before anything else.

use std::collections::HashMap;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use libloading::Library;
use llmtrace_plugin_abi::{
    self as abi, CreateFn, DestroyFn, ExportFn, ExporterDeclV1, FlushFn, FreeBufFn, GenerateFn,
    PluginHeader, ProviderDeclV1,
};

use super::{AbiVersion, PluginError, PluginInfo, PluginKind};

/// The plugin's entry function.
type EntryFn = unsafe extern "C" fn() -> *const PluginHeader;

/// The functions an exporter plugin declares, checked non-null.
#[derive(Clone, Copy)]
pub(super) struct ExporterVtable {
    pub(super) common: CommonVtable,
    pub(super) export: ExportFn,
    pub(super) flush: FlushFn,
}

/// The functions a provider plugin declares, checked non-null.
#[derive(Clone, Copy)]
pub(super) struct ProviderVtable {
    pub(super) common: CommonVtable,
    pub(super) generate: GenerateFn,
}

/// What every kind declares.
#[derive(Clone, Copy)]
pub(super) struct CommonVtable {
    pub(super) free_buf: FreeBufFn,
    pub(super) create: CreateFn,
    pub(super) destroy: DestroyFn,
}

/// A checked plugin library.
pub(super) struct Loaded {
    pub(super) info: Arc<PluginInfo>,
    pub(super) vtable: Vtable,
}

#[derive(Clone, Copy)]
pub(super) enum Vtable {
    Exporter(ExporterVtable),
    Provider(ProviderVtable),
}

/// Libraries opened so far, by canonical path. Entries are never removed and libraries never
/// closed: instances, buffers and function pointers of a plugin may live anywhere in the
/// process, and some platforms do not really unload anyway (musl; macOS with TLS).
static LIBRARIES: OnceLock<Mutex<HashMap<PathBuf, &'static Library>>> = OnceLock::new();

/// Opens (or finds) the library at canonical path `path`.
fn open(path: &Path) -> Result<&'static Library, PluginError> {
    // The lock also serializes `dlopen` calls, whose error reporting is not thread-safe on
    // every platform.
    let mut libraries = LIBRARIES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(library) = libraries.get(path) {
        return Ok(library);
    }
    // SAFETY: loading runs the library's initialisers, which is running foreign code. That
    // is the trust model of plugins: the user named this file in their configuration, just as
    // they would install a program. The path is absolute (canonical), so no search path is
    // involved.
    let library = unsafe { Library::new(path) }.map_err(|source| PluginError::NotALibrary {
        path: path.to_owned(),
        source,
    })?;
    let library: &'static Library = Box::leak(Box::new(library));
    libraries.insert(path.to_owned(), library);
    Ok(library)
}

/// Loads the library at `path` and checks its header; `expected` is the kind asked for
/// (`None` accepts any known kind). The order of the checks is documented in the module docs.
pub(super) fn load(path: &Path, expected: Option<PluginKind>) -> Result<Loaded, PluginError> {
    // 1. A regular file, named by an absolute path.
    let path = resolve(path)?;

    // 2. Loaded, with the entry symbol.
    let library = open(&path)?;
    // SAFETY: the symbol, if present, is the entry function of the plugin ABI, whose type is
    // `EntryFn` (the trust model above). The pointer is copied out of the `Symbol`; it stays
    // valid because the library is never unloaded.
    let entry: EntryFn = match unsafe { library.get::<EntryFn>(abi::ENTRY_SYMBOL) } {
        Ok(symbol) => *symbol,
        Err(source) => return Err(PluginError::MissingEntry { path, source }),
    };

    // 3. A header pointer that can be read.
    // SAFETY: `entry` has the ABI's signature and takes no arguments; the plugin's shims
    // never unwind.
    let header = unsafe { entry() };
    if header.is_null() {
        return Err(PluginError::BadEntry {
            path,
            problem: "a null pointer",
        });
    }
    if !header.is_aligned() {
        return Err(PluginError::BadEntry {
            path,
            problem: "a misaligned pointer",
        });
    }
    // SAFETY: non-null and aligned; by the ABI it points to a static declaration starting
    // with the frozen `PluginHeader`, which lives as long as the library (forever). Only the
    // header is read until its fields say which declaration follows. It is copied, so no
    // reference into the library's memory is kept.
    let head: PluginHeader = unsafe { header.read() };

    // 4. Magic, ABI major, kind, declared size.
    if head.magic != abi::ABI_MAGIC {
        return Err(PluginError::WrongMagic {
            path,
            found: head.magic,
            expected: abi::ABI_MAGIC,
        });
    }
    if head.abi_major != abi::ABI_MAJOR {
        return Err(PluginError::IncompatibleAbi {
            path,
            found: head.abi_major,
            expected: abi::ABI_MAJOR,
        });
    }
    let kind = match head.kind {
        abi::Kind::EXPORTER => PluginKind::Exporter,
        abi::Kind::PROVIDER => PluginKind::Provider,
        abi::Kind(found) => return Err(PluginError::UnknownKind { path, found }),
    };
    if let Some(expected) = expected.filter(|&expected| expected != kind) {
        return Err(PluginError::WrongKind {
            path,
            found: kind,
            expected,
        });
    }
    let (required, aligned) = match kind {
        PluginKind::Exporter => (
            size_of::<ExporterDeclV1>(),
            header.cast::<ExporterDeclV1>().is_aligned(),
        ),
        PluginKind::Provider => (
            size_of::<ProviderDeclV1>(),
            header.cast::<ProviderDeclV1>().is_aligned(),
        ),
    };
    if (head.decl_size as usize) < required {
        return Err(PluginError::DeclTooSmall {
            path,
            kind,
            found: head.decl_size,
            required,
        });
    }
    if !aligned {
        return Err(PluginError::BadEntry {
            path,
            problem: "a pointer misaligned for its declaration",
        });
    }

    // 5. The strings, then the function pointers. `api_version` is informational only:
    // compatibility is the ABI major's business, so a C plugin claims no crate version.
    let api_version = header_string(&path, "api_version", head.api_version)?;
    let api_version = Some(api_version).filter(|version| !version.is_empty());
    let name = header_string(&path, "name", head.name)?;
    let plugin_version = header_string(&path, "plugin_version", head.plugin_version)?;
    let info = Arc::new(PluginInfo {
        path,
        name,
        kind,
        plugin_version,
        abi_version: AbiVersion {
            major: head.abi_major,
            minor: head.abi_minor,
        },
        api_version,
        thread_safe: head.flags.contains(abi::Flags::THREAD_SAFE),
    });
    let vtable = match kind {
        PluginKind::Exporter => {
            // SAFETY: the header says this is an exporter declaration of at least
            // `size_of::<ExporterDeclV1>()` bytes, and the pointer is aligned for it. It is a
            // static of a library that is never unloaded, so `'static` holds. The pointer
            // came from the plugin with the provenance of the whole declaration.
            let decl: &'static ExporterDeclV1 = unsafe { &*header.cast::<ExporterDeclV1>() };
            let common = common(&info, decl.free_buf, decl.create, decl.destroy)?;
            Vtable::Exporter(ExporterVtable {
                common,
                export: required_fn(&info, "export", decl.export)?,
                flush: required_fn(&info, "flush", decl.flush)?,
            })
        }
        PluginKind::Provider => {
            // SAFETY: as above, for a provider declaration.
            let decl: &'static ProviderDeclV1 = unsafe { &*header.cast::<ProviderDeclV1>() };
            let common = common(&info, decl.free_buf, decl.create, decl.destroy)?;
            Vtable::Provider(ProviderVtable {
                common,
                generate: required_fn(&info, "generate", decl.generate)?,
            })
        }
    };
    Ok(Loaded { info, vtable })
}

/// The canonical path of `path`, checked to be a regular file: the first loading check,
/// also made by the host before it hands a library to a child process.
pub(super) fn resolve(path: &Path) -> Result<PathBuf, PluginError> {
    let path = std::fs::canonicalize(path).map_err(|source| {
        let path = path.to_owned();
        match source.kind() {
            std::io::ErrorKind::NotFound => PluginError::NotFound { path, source },
            _ => PluginError::Inaccessible { path, source },
        }
    })?;
    let metadata = std::fs::metadata(&path).map_err(|source| PluginError::Inaccessible {
        path: path.clone(),
        source,
    })?;
    if !metadata.is_file() {
        return Err(PluginError::NotAFile { path });
    }
    Ok(path)
}

/// A copy of a header string, checked to be UTF-8.
fn header_string(
    path: &Path,
    field: &'static str,
    bytes: abi::Bytes,
) -> Result<String, PluginError> {
    // SAFETY: header strings are statics of the library (ABI contract), which is never
    // unloaded: readable for as long as the host runs. The slice is copied right away.
    let bytes = unsafe { bytes.as_slice() };
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_owned()),
        Err(source) => Err(PluginError::InvalidUtf8 {
            path: path.to_owned(),
            field,
            source,
        }),
    }
}

fn common(
    info: &PluginInfo,
    free_buf: Option<FreeBufFn>,
    create: Option<CreateFn>,
    destroy: Option<DestroyFn>,
) -> Result<CommonVtable, PluginError> {
    Ok(CommonVtable {
        free_buf: required_fn(info, "free_buf", free_buf)?,
        create: required_fn(info, "create", create)?,
        destroy: required_fn(info, "destroy", destroy)?,
    })
}

fn required_fn<F>(
    info: &PluginInfo,
    function: &'static str,
    pointer: Option<F>,
) -> Result<F, PluginError> {
    pointer.ok_or_else(|| PluginError::MissingFunction {
        path: info.path.clone(),
        name: info.name.clone(),
        function,
    })
}

/// An instance pointer handed out by a plugin's `create`.
#[derive(Debug)]
pub(super) struct RawInstance(pub(super) std::ptr::NonNull<c_void>);

// SAFETY: plugin types are `Send` (the ABI traits require it; a foreign plugin promises it by
// implementing the ABI), so the instance may be used from, and destroyed on, any thread.
unsafe impl Send for RawInstance {}

impl RawInstance {
    pub(super) fn as_ptr(&self) -> *mut c_void {
        self.0.as_ptr()
    }
}
