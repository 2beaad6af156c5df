//! Test "plugin": a shared library that exports a function, but not the plugin entry.

/// Some other exported function, so that the library is not empty.
#[allow(unsafe_code)] // `no_mangle` exports the function
#[unsafe(no_mangle)]
pub extern "C" fn not_the_plugin_entry() -> u32 {
    42
}
