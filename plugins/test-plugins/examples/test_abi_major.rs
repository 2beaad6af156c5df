//! Test plugin: a provider built for the next ABI major version.

llmtrace_test_plugins::provider_entry!({
    let mut decl = llmtrace_test_plugins::provider_decl();
    decl.header.abi_major = llmtrace_plugin_abi::ABI_MAJOR + 1;
    decl
});
