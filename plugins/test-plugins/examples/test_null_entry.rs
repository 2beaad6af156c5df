//! Test plugin: an entry function that returns a null pointer.

#[allow(unsafe_code)] // `no_mangle` is what makes the entry findable
#[unsafe(no_mangle)]
extern "C" fn llmtrace_plugin_entry() -> *const llmtrace_plugin_abi::PluginHeader {
    std::ptr::null()
}
