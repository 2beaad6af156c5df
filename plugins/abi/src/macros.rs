//! The export macros: one line turns a trait implementation into a loadable plugin.

/// Exports an [`ExporterPlugin`](crate::ExporterPlugin) type as this library's plugin.
///
/// Generates a static [`ExporterDeclV1`](crate::ExporterDeclV1) named after the crate
/// (`CARGO_PKG_NAME`, `CARGO_PKG_VERSION`) and the `llmtrace_plugin_entry` function returning
/// it. Use it once per `cdylib`.
///
/// ```
/// # use llmtrace_plugin_abi::{ExporterPlugin, PluginError, TraceRecord};
/// # struct Discard;
/// # impl ExporterPlugin for Discard {
/// #     fn create(_: serde_json::Value) -> Result<Self, PluginError> { Ok(Discard) }
/// #     fn export(&mut self, _: Vec<TraceRecord>) -> Result<(), PluginError> { Ok(()) }
/// # }
/// llmtrace_plugin_abi::export_exporter!(Discard);
/// ```
#[macro_export]
macro_rules! export_exporter {
    ($plugin:ty $(,)?) => {
        $crate::__export_entry!(
            $crate::ExporterDeclV1,
            $crate::ExporterDeclV1::new::<$plugin>(
                ::core::env!("CARGO_PKG_NAME"),
                ::core::env!("CARGO_PKG_VERSION"),
            )
        );
    };
}

/// Exports a [`ProviderPlugin`](crate::ProviderPlugin) type as this library's plugin.
///
/// `export_provider!(MyProvider)` makes the host call each instance one call at a time;
/// `export_provider!(MyProvider, thread_safe)` lets it call one instance from several threads
/// at once and requires `MyProvider: Sync`. Names and versions come from the crate
/// (`CARGO_PKG_NAME`, `CARGO_PKG_VERSION`); the name is the provider name in traces.
///
/// ```
/// # use llmtrace_plugin_abi::{GenerateRequest, GenerateResponse, PluginError, ProviderPlugin};
/// # struct Parrot;
/// # impl ProviderPlugin for Parrot {
/// #     fn create(_: serde_json::Value) -> Result<Self, PluginError> { Ok(Parrot) }
/// #     fn generate(&self, r: GenerateRequest) -> Result<GenerateResponse, PluginError> {
/// #         Ok(GenerateResponse::new(r.prompt))
/// #     }
/// # }
/// llmtrace_plugin_abi::export_provider!(Parrot, thread_safe);
/// ```
///
/// A type that is not `Sync` cannot be exported as `thread_safe`:
///
/// ```compile_fail
/// # use std::cell::Cell;
/// # use llmtrace_plugin_abi::{GenerateRequest, GenerateResponse, PluginError, ProviderPlugin};
/// struct Counting(Cell<u64>);
/// # impl ProviderPlugin for Counting {
/// #     fn create(_: serde_json::Value) -> Result<Self, PluginError> { Ok(Counting(Cell::new(0))) }
/// #     fn generate(&self, r: GenerateRequest) -> Result<GenerateResponse, PluginError> {
/// #         Ok(GenerateResponse::new(r.prompt))
/// #     }
/// # }
/// llmtrace_plugin_abi::export_provider!(Counting, thread_safe);
/// ```
#[macro_export]
macro_rules! export_provider {
    ($plugin:ty $(,)?) => {
        $crate::__export_entry!(
            $crate::ProviderDeclV1,
            $crate::ProviderDeclV1::new::<$plugin>(
                ::core::env!("CARGO_PKG_NAME"),
                ::core::env!("CARGO_PKG_VERSION"),
            )
        );
    };
    ($plugin:ty, thread_safe $(,)?) => {
        $crate::__export_entry!(
            $crate::ProviderDeclV1,
            $crate::ProviderDeclV1::new_thread_safe::<$plugin>(
                ::core::env!("CARGO_PKG_NAME"),
                ::core::env!("CARGO_PKG_VERSION"),
            )
        );
    };
}

/// Defines the static declaration and the entry function. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_entry {
    ($decl_type:ty, $decl:expr) => {
        const _: () = {
            static DECLARATION: $decl_type = $decl;

            // `no_mangle` is what makes the symbol findable; `extern "C"` (not "C-unwind")
            // means a panic escaping despite the shims' guards aborts instead of unwinding
            // into the host.
            #[allow(unsafe_code)]
            #[unsafe(no_mangle)]
            extern "C" fn llmtrace_plugin_entry() -> *const $crate::PluginHeader {
                // The header is the first field of the repr(C) declaration: a pointer to the
                // whole declaration (keeping its provenance) is a pointer to the header, and
                // the host casts it back once the header says which declaration it is.
                (&raw const DECLARATION).cast::<$crate::PluginHeader>()
            }
        };
    };
}
