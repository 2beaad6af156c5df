//! Test plugin: a provider whose `generate` succeeds with bytes that are not JSON.

#![allow(unsafe_code)] // a hand-written `extern "C"` generate, writing through raw pointers

use std::ffi::c_void;

use llmtrace_plugin_abi::{Bytes, OwnedBuf, Status};

/// Answers every request with a truncated JSON document.
unsafe extern "C" fn generate(
    _instance: *mut c_void,
    _request: Bytes,
    response: *mut OwnedBuf,
    _err: *mut OwnedBuf,
) -> Status {
    if response.is_null() {
        return Status::BAD_INPUT;
    }
    let truncated = br#"{"schema": "1.0", "response": {"content": "cut sh"#.to_vec();
    // SAFETY: `response` is non-null and the host passes a writable `OwnedBuf` (ABI
    // contract); the buffer is freed by this plugin's `free_buf`, which is the shim's.
    unsafe { response.write(OwnedBuf::from_vec(truncated)) };
    Status::OK
}

llmtrace_test_plugins::provider_entry!({
    let mut decl = llmtrace_test_plugins::provider_decl();
    decl.generate = Some(generate);
    decl
});
