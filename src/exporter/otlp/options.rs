use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::OtlpExporter;
use crate::config::reader::Table;
use crate::config::secrets::read_secret;
use crate::config::{ConfigIssue, ExporterComponent, build_issue, fields, limits, validate};
use crate::exporter::Exporter;

/// Where and how an [`OtlpExporter`](super::OtlpExporter) sends spans.
///
/// The field names are the config keys of an `[exporters.<name>]` table with `type = "otlp"`
/// (see `config/otlp-collector.toml`); every field has a default. In code, use the setters:
///
/// ```
/// use std::time::Duration;
/// use llmtrace::exporter::OtlpOptions;
///
/// let options = OtlpOptions::new("http://127.0.0.1:4318")
///     .service_name("checkout")
///     .header("x-tenant", "dev")
///     .secret_header("authorization", "OTLP_AUTHORIZATION")
///     .timeout(Duration::from_secs(5));
/// assert!(!options.capture_content);
/// ```
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct OtlpOptions {
    /// Base URL of the OTLP/HTTP receiver; spans are POSTed to `{endpoint}/v1/traces` (an
    /// endpoint that already ends in `/v1/traces` is used as it is). Default
    /// `http://localhost:4318`, the OTLP/HTTP default port.
    pub endpoint: String,
    /// The `service.name` resource attribute. Default `llmtrace`.
    pub service_name: String,
    /// The `openinference.project.name` resource attribute: the project Arize Phoenix (and
    /// other OpenInference backends) file the spans under, which otherwise land in its
    /// `default` project. Default: an `openinference.project.name` entry of
    /// `resource_attributes`, else the `service_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    /// Export prompts and completions (`gen_ai.system_instructions`, `gen_ai.input.messages`,
    /// `gen_ai.output.messages`, `gen_ai.tool.definitions`). Default `false`: they are
    /// sensitive and large, and the conventions make them opt-in.
    pub capture_content: bool,
    /// Longest wait for one export request, connection included, in milliseconds (at least 1).
    /// A request that times out is retried. Default 10000 (the OTLP exporters' default).
    pub timeout_ms: u64,
    /// Headers sent with every request, by name, with literal values. Default none.
    pub headers: BTreeMap<String, String>,
    /// Headers sent with every request: header name = NAME of the environment variable holding
    /// its value, read when the exporter is built (a missing variable is an error). The values
    /// are secrets: never written in the config, printed or logged. Default none.
    pub secret_headers: BTreeMap<String, String>,
    /// More resource attributes (`deployment.environment.name`, `service.version`, ...).
    /// Default none.
    pub resource_attributes: BTreeMap<String, String>,
}

impl Default for OtlpOptions {
    fn default() -> Self {
        Self {
            endpoint: "http://localhost:4318".to_owned(),
            service_name: "llmtrace".to_owned(),
            project_name: None,
            capture_content: false,
            timeout_ms: 10_000,
            headers: BTreeMap::new(),
            secret_headers: BTreeMap::new(),
            resource_attributes: BTreeMap::new(),
        }
    }
}

impl OtlpOptions {
    /// The defaults, sending to the receiver at `endpoint` (a base URL such as
    /// `http://127.0.0.1:4318`).
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            ..Self::default()
        }
    }

    /// Sets the `service.name` resource attribute. Defaults to `llmtrace`.
    pub fn service_name(mut self, service_name: impl Into<String>) -> Self {
        self.service_name = service_name.into();
        self
    }

    /// Sets the `openinference.project.name` resource attribute (the Phoenix project).
    /// Defaults to the service name.
    pub fn project_name(mut self, project_name: impl Into<String>) -> Self {
        self.project_name = Some(project_name.into());
        self
    }

    /// The `openinference.project.name` the spans carry: `project_name`, else the one in
    /// `resource_attributes`, else the service name.
    pub(super) fn effective_project_name(&self) -> &str {
        self.project_name
            .as_deref()
            .or_else(|| {
                self.resource_attributes
                    .get(super::semconv::OPENINFERENCE_PROJECT_NAME)
                    .map(String::as_str)
            })
            .unwrap_or(&self.service_name)
    }

    /// Exports prompts and completions too. Defaults to `false`.
    pub fn capture_content(mut self, capture_content: bool) -> Self {
        self.capture_content = capture_content;
        self
    }

    /// Sets the longest wait for one export request. Defaults to 10 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Adds a header with a literal value.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Adds a header whose (secret) value is read from the environment variable named `var`
    /// when the exporter is built.
    pub fn secret_header(mut self, name: impl Into<String>, var: impl Into<String>) -> Self {
        self.secret_headers.insert(name.into(), var.into());
        self
    }

    /// Adds a resource attribute.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource_attributes.insert(key.into(), value.into());
        self
    }

    /// The URL spans are POSTed to.
    pub fn traces_url(&self) -> String {
        let base = self.endpoint.trim_end_matches('/');
        if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        }
    }
}

/// Header values may be credentials even when literal: `Debug` shows header names only.
impl fmt::Debug for OtlpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpOptions")
            .field("endpoint", &self.endpoint)
            .field("service_name", &self.service_name)
            .field("project_name", &self.project_name)
            .field("capture_content", &self.capture_content)
            .field("timeout_ms", &self.timeout_ms)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("secret_headers", &self.secret_headers)
            .field("resource_attributes", &self.resource_attributes)
            .finish()
    }
}

/// `type = "otlp"`: every field is a key; header names and values, the endpoint and the names
/// of the secret headers' variables are checked when read.
impl ExporterComponent for OtlpOptions {
    const TYPE: &'static str = "otlp";

    fn read(table: &mut Table<'_, '_>) -> Option<Self> {
        let defaults = OtlpOptions::default();
        let endpoint = table.get("endpoint");
        Some(OtlpOptions {
            endpoint: (table.checked("endpoint", endpoint, validate::http_url))
                .unwrap_or(defaults.endpoint),
            service_name: table.get("service_name").unwrap_or(defaults.service_name),
            project_name: table.get("project_name"),
            capture_content: (table.get("capture_content")).unwrap_or(defaults.capture_content),
            timeout_ms: table.int_in("timeout_ms", 1, limits::MILLIS, defaults.timeout_ms),
            headers: fields::headers(table),
            secret_headers: fields::secret_headers(table),
            resource_attributes: fields::string_map(table, "resource_attributes"),
        })
    }

    fn build(&self) -> Result<Box<dyn Exporter>, ConfigIssue> {
        // Checked here first so that a missing secret is named by its own key.
        for (header, var) in &self.secret_headers {
            let key = format!("secret_headers.{header}");
            read_secret(var).map_err(|message| build_issue(&key, message))?;
        }
        // The message names the setting at fault.
        let exporter =
            OtlpExporter::new(self.clone()).map_err(|e| build_issue("", e.to_string()))?;
        Ok(Box::new(exporter))
    }

    fn secret_vars(&self) -> Vec<(String, String)> {
        fields::secret_header_vars(&self.secret_headers)
    }

    fn mask(&mut self) {
        fields::mask_http(&mut self.headers, &mut self.endpoint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_appended_once() {
        for endpoint in [
            "http://127.0.0.1:4318",
            "http://127.0.0.1:4318/",
            "http://127.0.0.1:4318/v1/traces",
        ] {
            assert_eq!(
                OtlpOptions::new(endpoint).traces_url(),
                "http://127.0.0.1:4318/v1/traces"
            );
        }
        assert_eq!(
            OtlpOptions::new("https://otlp.example/api/").traces_url(),
            "https://otlp.example/api/v1/traces"
        );
    }

    #[test]
    fn the_project_is_the_option_else_the_resource_attribute_else_the_service() {
        let options = OtlpOptions::default().service_name("checkout");
        assert_eq!(options.effective_project_name(), "checkout");
        let options = options.resource_attribute("openinference.project.name", "shop");
        assert_eq!(options.effective_project_name(), "shop");
        let options = options.project_name("payments");
        assert_eq!(options.effective_project_name(), "payments");
    }

    #[test]
    fn debug_never_shows_header_values() {
        let options = OtlpOptions::default()
            .header("authorization", "Bearer hunter2")
            .secret_header("x-api-key", "OTLP_KEY");
        let text = format!("{options:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains("authorization") && text.contains("OTLP_KEY"),
            "{text}"
        );
    }
}
