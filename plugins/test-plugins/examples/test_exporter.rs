//! Test plugin: [`TestExporter`](llmtrace_test_plugins::TestExporter), exported as a real
//! plugin would be.

llmtrace_plugin_abi::export_exporter!(llmtrace_test_plugins::TestExporter);
