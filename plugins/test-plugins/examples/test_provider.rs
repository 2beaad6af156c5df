//! Test plugin: [`TestProvider`](llmtrace_test_plugins::TestProvider), exported as a real
//! plugin would be (not thread-safe).

llmtrace_plugin_abi::export_provider!(llmtrace_test_plugins::TestProvider);
