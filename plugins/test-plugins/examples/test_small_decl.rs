//! Test plugin: a provider whose declared size cannot hold a provider declaration.

llmtrace_test_plugins::provider_entry!({
    let mut decl = llmtrace_test_plugins::provider_decl();
    decl.header.decl_size = 8;
    decl
});
