//! The `extern "C"` functions behind every declaration, generic over the plugin type.
//!
//! [`export_exporter!`](crate::export_exporter) and [`export_provider!`](crate::export_provider)
//! put these into the plugin's static declaration; they are public so that a hand-written
//! declaration (a test plugin, a plugin with extra flags) can reuse them.
//!
//! Every function runs its body under [`std::panic::catch_unwind`]: a panic becomes
//! [`Status::PANICKED`] with the panic message in `err`, and never unwinds into the host. A
//! failure of the plugin becomes [`Status::ERROR`] with a [`PluginError`] in `err`; input the
//! plugin cannot read becomes [`Status::BAD_INPUT`].
//!
//! # Safety
//!
//! The host upholds the ABI contract for every function here:
//! - `Bytes` inputs are readable for the duration of the call;
//! - `err` and `response` are null or point to writable `OwnedBuf`s, which the host later
//!   returns to [`free_buf`];
//! - `instance` is a pointer returned by the same plugin's `create`, not yet destroyed, never
//!   used after a panic, and used by one thread at a time unless the declaration says
//!   [`Flags::THREAD_SAFE`](crate::Flags::THREAD_SAFE) (exporters are always used by one
//!   thread at a time).

use std::ffi::c_void;
use std::panic::{self, AssertUnwindSafe};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{
    Bytes, ExportBatch, ExporterPlugin, OwnedBuf, PluginError, ProviderPlugin, ProviderRequest,
    ProviderResponse, Status, schema_is_compatible,
};

/// Why a call did not succeed: the status to return and the error to report.
struct Failure {
    status: Status,
    error: PluginError,
}

impl Failure {
    fn error(error: PluginError) -> Self {
        Failure {
            status: Status::ERROR,
            error,
        }
    }

    fn bad_input(message: impl Into<String>) -> Self {
        Failure {
            status: Status::BAD_INPUT,
            error: PluginError::invalid_request(message),
        }
    }
}

/// Runs `body`, turning its failure or panic into a status and an error in `err`.
fn guard(err: *mut OwnedBuf, body: impl FnOnce() -> Result<(), Failure>) -> Status {
    let failure = match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return Status::OK,
        Ok(Err(failure)) => failure,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic with a non-string payload".to_owned());
            Failure {
                status: Status::PANICKED,
                error: PluginError::internal(message),
            }
        }
    };
    write_buf(err, serde_json::to_vec(&failure.error).unwrap_or_default());
    failure.status
}

/// Hands `bytes` to the host through `out`, unless `out` is null.
fn write_buf(out: *mut OwnedBuf, bytes: Vec<u8>) {
    if out.is_null() {
        return;
    }
    // SAFETY: `out` is non-null and, by the ABI contract, points to a writable `OwnedBuf`;
    // `write` does not read (or drop) what was there.
    unsafe { out.write(OwnedBuf::from_vec(bytes)) };
}

/// Parses the JSON the host lent for this call.
///
/// # Safety
/// `bytes` must be readable for the duration of the call.
unsafe fn parse<T: DeserializeOwned>(bytes: Bytes, what: &str) -> Result<T, Failure> {
    // SAFETY: the caller guarantees `bytes` is readable during this call; the slice does not
    // outlive it (it is only parsed here).
    let slice = unsafe { bytes.as_slice() };
    serde_json::from_slice(slice)
        .map_err(|error| Failure::bad_input(format!("invalid {what} JSON: {error}")))
}

/// Rejects an envelope whose schema major this crate does not know.
fn check_schema(schema: &str) -> Result<(), Failure> {
    if schema_is_compatible(schema) {
        Ok(())
    } else {
        Err(Failure::bad_input(format!(
            "unsupported payload schema {schema:?} (this plugin reads {})",
            crate::SCHEMA_VERSION
        )))
    }
}

/// Creates a `T` and writes it to `instance`.
///
/// # Safety
/// See the [module docs](self#safety); `instance` must be null or writable.
unsafe fn create<T>(
    options: Bytes,
    instance: *mut *mut c_void,
    err: *mut OwnedBuf,
    build: fn(Value) -> Result<T, PluginError>,
) -> Status {
    guard(err, || {
        if instance.is_null() {
            return Err(Failure::bad_input("null instance pointer"));
        }
        // SAFETY: forwarded from the caller: `options` is readable during this call.
        let options: Value = unsafe { parse(options, "options") }?;
        let plugin = build(options).map_err(Failure::error)?;
        let raw = Box::into_raw(Box::new(plugin)).cast::<c_void>();
        // SAFETY: checked non-null above; the caller guarantees it is writable.
        unsafe { instance.write(raw) };
        Ok(())
    })
}

/// Drops the `T` behind `instance`.
///
/// # Safety
/// `instance` must be null or come from `create::<T>` and not be used afterwards.
unsafe fn destroy<T>(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // A panic in `Drop` is reported nowhere (there is no error buffer); it must not unwind
    // into the host.
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller guarantees the pointer came from `Box::into_raw` in `create::<T>`
        // and is given up here.
        drop(unsafe { Box::from_raw(instance.cast::<T>()) });
    }));
}

/// Releases a buffer this plugin returned. A null buffer is ignored.
///
/// # Safety
/// `buf` must be null or a buffer returned by this same plugin, not yet freed.
pub unsafe extern "C" fn free_buf(buf: OwnedBuf) {
    if buf.is_null() {
        return;
    }
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller guarantees `buf` came from `OwnedBuf::from_vec` in this binary
        // (this plugin) and is freed once.
        drop(unsafe { buf.into_vec() });
    }));
}

/// `create` of exporter `T`.
///
/// # Safety
/// See the [module docs](self#safety).
pub unsafe extern "C" fn exporter_create<T: ExporterPlugin>(
    options: Bytes,
    instance: *mut *mut c_void,
    err: *mut OwnedBuf,
) -> Status {
    // SAFETY: forwarded; the host upholds the module contract.
    unsafe { create(options, instance, err, T::create) }
}

/// `export` of exporter `T`.
///
/// # Safety
/// See the [module docs](self#safety).
pub unsafe extern "C" fn exporter_export<T: ExporterPlugin>(
    instance: *mut c_void,
    batch: Bytes,
    err: *mut OwnedBuf,
) -> Status {
    guard(err, || {
        // SAFETY: `batch` is readable during this call (module contract).
        let batch: ExportBatch = unsafe { parse(batch, "batch") }?;
        check_schema(&batch.schema)?;
        // SAFETY: `instance` came from `exporter_create::<T>`, is alive, and exporters are
        // never called concurrently, so this is the only reference.
        let plugin = unsafe { instance.cast::<T>().as_mut() }
            .ok_or_else(|| Failure::bad_input("null instance pointer"))?;
        plugin.export(batch.records).map_err(Failure::error)
    })
}

/// `flush` of exporter `T`.
///
/// # Safety
/// See the [module docs](self#safety).
pub unsafe extern "C" fn exporter_flush<T: ExporterPlugin>(
    instance: *mut c_void,
    err: *mut OwnedBuf,
) -> Status {
    guard(err, || {
        // SAFETY: as in `exporter_export`.
        let plugin = unsafe { instance.cast::<T>().as_mut() }
            .ok_or_else(|| Failure::bad_input("null instance pointer"))?;
        plugin.flush().map_err(Failure::error)
    })
}

/// `destroy` of exporter `T`.
///
/// # Safety
/// See the [module docs](self#safety); `instance` is not used afterwards.
pub unsafe extern "C" fn exporter_destroy<T: ExporterPlugin>(instance: *mut c_void) {
    // SAFETY: forwarded; the host gives the instance up.
    unsafe { destroy::<T>(instance) }
}

/// `create` of provider `T`.
///
/// # Safety
/// See the [module docs](self#safety).
pub unsafe extern "C" fn provider_create<T: ProviderPlugin>(
    options: Bytes,
    instance: *mut *mut c_void,
    err: *mut OwnedBuf,
) -> Status {
    // SAFETY: forwarded; the host upholds the module contract.
    unsafe { create(options, instance, err, T::create) }
}

/// `generate` of provider `T`: writes a [`ProviderResponse`] to `response`.
///
/// # Safety
/// See the [module docs](self#safety).
pub unsafe extern "C" fn provider_generate<T: ProviderPlugin>(
    instance: *mut c_void,
    request: Bytes,
    response: *mut OwnedBuf,
    err: *mut OwnedBuf,
) -> Status {
    guard(err, || {
        if response.is_null() {
            return Err(Failure::bad_input("null response pointer"));
        }
        // SAFETY: `request` is readable during this call (module contract).
        let request: ProviderRequest = unsafe { parse(request, "request") }?;
        check_schema(&request.schema)?;
        // SAFETY: `instance` came from `provider_create::<T>` and is alive. Only a shared
        // reference is made: concurrent callers exist only for THREAD_SAFE declarations,
        // which `ProviderDeclV1::new_thread_safe` allows only for `T: Sync`.
        let plugin = unsafe { instance.cast::<T>().as_ref() }
            .ok_or_else(|| Failure::bad_input("null instance pointer"))?;
        let answer = plugin.generate(request.request).map_err(Failure::error)?;
        let bytes = serde_json::to_vec(&ProviderResponse::new(answer)).map_err(|error| {
            Failure::error(PluginError::internal(format!(
                "cannot serialize the response: {error}"
            )))
        })?;
        write_buf(response, bytes);
        Ok(())
    })
}

/// `destroy` of provider `T`.
///
/// # Safety
/// See the [module docs](self#safety); `instance` is not used afterwards.
pub unsafe extern "C" fn provider_destroy<T: ProviderPlugin>(instance: *mut c_void) {
    // SAFETY: forwarded; the host gives the instance up.
    unsafe { destroy::<T>(instance) }
}

#[cfg(test)]
mod tests {
    use std::ptr;

    use serde_json::json;

    use super::*;
    use crate::{GenerateRequest, GenerateResponse, TraceRecord};

    /// Counts records; panics on a record whose prompt is `panic`.
    struct Counter(usize);

    impl ExporterPlugin for Counter {
        fn create(options: Value) -> Result<Self, PluginError> {
            match options.get("fail") {
                Some(_) => Err(PluginError::invalid_request("told to fail")),
                None => Ok(Counter(0)),
            }
        }

        fn export(&mut self, records: Vec<TraceRecord>) -> Result<(), PluginError> {
            assert!(records.iter().all(|r| r.prompt != "panic"), "boom");
            self.0 += records.len();
            Ok(())
        }
    }

    struct Upper;

    impl ProviderPlugin for Upper {
        fn create(_: Value) -> Result<Self, PluginError> {
            Ok(Upper)
        }

        fn generate(&self, request: GenerateRequest) -> Result<GenerateResponse, PluginError> {
            Ok(GenerateResponse::new(request.prompt.to_uppercase()))
        }
    }

    /// Takes a buffer the shims wrote and frees it through `free_buf`, as the host does.
    fn take(buf: &mut OwnedBuf) -> Value {
        let owned = std::mem::replace(buf, OwnedBuf::EMPTY);
        // SAFETY: written by a shim of this binary, not freed yet.
        let value = serde_json::from_slice(unsafe { owned.as_slice() }).unwrap();
        // SAFETY: same buffer, freed once.
        unsafe { free_buf(owned) };
        value
    }

    fn create_counter(options: &Value) -> (Status, *mut c_void, OwnedBuf) {
        let options = serde_json::to_vec(options).unwrap();
        let mut instance = ptr::null_mut();
        let mut err = OwnedBuf::EMPTY;
        // SAFETY: `options` outlives the call; the out pointers are valid locals.
        let status = unsafe {
            exporter_create::<Counter>(Bytes::borrowed(&options), &mut instance, &mut err)
        };
        (status, instance, err)
    }

    fn export(instance: *mut c_void, prompts: &[&str]) -> (Status, OwnedBuf) {
        let records: Vec<Value> = prompts.iter().map(|p| json!({"prompt": p})).collect();
        let batch = serde_json::to_vec(&json!({"schema": "1.0", "records": records})).unwrap();
        let mut err = OwnedBuf::EMPTY;
        // SAFETY: a live instance of `Counter`, used by this thread only; `batch` outlives
        // the call.
        let status =
            unsafe { exporter_export::<Counter>(instance, Bytes::borrowed(&batch), &mut err) };
        (status, err)
    }

    #[test]
    fn an_exporter_is_created_called_and_destroyed_through_its_shims() {
        let (status, instance, err) = create_counter(&json!({}));
        assert_eq!(status, Status::OK);
        assert!(err.is_null());

        let (status, _) = export(instance, &["a", "b"]);
        assert_eq!(status, Status::OK);
        // SAFETY: the instance is alive and not shared.
        assert_eq!(unsafe { &*instance.cast::<Counter>() }.0, 2);

        // SAFETY: the instance is given up here.
        unsafe { exporter_destroy::<Counter>(instance) };
    }

    #[test]
    fn a_failing_create_reports_its_error() {
        let (status, instance, mut err) = create_counter(&json!({"fail": true}));
        assert_eq!(status, Status::ERROR);
        assert!(instance.is_null());
        assert_eq!(
            take(&mut err),
            json!({"kind": "invalid_request", "message": "told to fail", "retryable": false})
        );
    }

    #[test]
    fn a_panic_becomes_the_panicked_status_with_its_message() {
        let (_, instance, _) = create_counter(&json!({}));
        let (status, mut err) = export(instance, &["panic"]);
        assert_eq!(status, Status::PANICKED);
        assert_eq!(take(&mut err)["message"], "boom");
        // The instance is leaked on purpose, as the host does with a poisoned instance.
    }

    #[test]
    fn bad_json_and_unknown_schemas_are_bad_input() {
        let (_, instance, _) = create_counter(&json!({}));
        let mut err = OwnedBuf::EMPTY;
        // SAFETY: a live instance; the static input outlives the call.
        let status =
            unsafe { exporter_export::<Counter>(instance, Bytes::from_static(b"{nope"), &mut err) };
        assert_eq!(status, Status::BAD_INPUT);
        assert!(
            take(&mut err)["message"]
                .as_str()
                .unwrap()
                .contains("batch")
        );

        let batch = br#"{"schema": "2.0", "records": []}"#;
        // SAFETY: as above.
        let status =
            unsafe { exporter_export::<Counter>(instance, Bytes::from_static(batch), &mut err) };
        assert_eq!(status, Status::BAD_INPUT);
        assert!(take(&mut err)["message"].as_str().unwrap().contains("2.0"));
        // SAFETY: the instance is given up here.
        unsafe { exporter_destroy::<Counter>(instance) };
    }

    #[test]
    fn a_provider_answers_with_an_enveloped_response() {
        let mut instance = ptr::null_mut();
        let mut err = OwnedBuf::EMPTY;
        // SAFETY: valid out pointers; static options.
        let status = unsafe {
            provider_create::<Upper>(Bytes::from_static(b"null"), &mut instance, &mut err)
        };
        assert_eq!(status, Status::OK);

        let request = br#"{"schema": "1.0", "request": {"prompt": "hi", "future": 1}}"#;
        let mut response = OwnedBuf::EMPTY;
        // SAFETY: a live instance; static input; valid out pointers.
        let status = unsafe {
            provider_generate::<Upper>(
                instance,
                Bytes::from_static(request),
                &mut response,
                &mut err,
            )
        };
        assert_eq!(status, Status::OK);
        let response = take(&mut response);
        assert_eq!(response["schema"], "1.0");
        assert_eq!(response["response"]["content"], "HI");
        // SAFETY: the instance is given up here.
        unsafe { provider_destroy::<Upper>(instance) };
    }
}
