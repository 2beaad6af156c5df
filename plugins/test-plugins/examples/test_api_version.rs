//! Test plugin: a provider claiming to be built against llmtrace-plugin-abi 99.0.0.

llmtrace_test_plugins::provider_entry!({
    let mut decl = llmtrace_test_plugins::provider_decl();
    decl.header.api_version = llmtrace_plugin_abi::Bytes::from_static(b"99.0.0");
    decl
});
