//! Test plugin: a provider whose header starts with the wrong magic number.

llmtrace_test_plugins::provider_entry!({
    let mut decl = llmtrace_test_plugins::provider_decl();
    decl.header.magic = u64::from_le_bytes(*b"NOTTRACE");
    decl
});
