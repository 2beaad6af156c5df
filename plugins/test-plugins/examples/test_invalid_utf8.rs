//! Test plugin: a provider whose name is not valid UTF-8.

llmtrace_test_plugins::provider_entry!({
    let mut decl = llmtrace_test_plugins::provider_decl();
    decl.header.name = llmtrace_plugin_abi::Bytes::from_static(b"bad\xffname");
    decl
});
