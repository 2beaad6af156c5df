//! `llmtrace check-config FILE`

use std::collections::BTreeMap;
use std::path::Path;

use llmtrace::config::{Config, ExporterKind, ProviderConfig};
use llmtrace::{BoxError, scrub_secrets};

/// What a masked header value is shown as, as `Config::to_masked_toml` shows secrets.
const MASK: &str = "********";

pub(crate) fn run(file: &Path) -> Result<(), BoxError> {
    let config = Config::load(Some(file))?;
    // A missing API key or header secret would only surface when the stack is built.
    config.check_environment(Some(file))?;
    println!(
        "# {} is valid; effective stack, outermost first:\n# {}\n",
        file.display(),
        config.stack()
    );
    println!("# effective configuration (secrets masked):\n");
    print!("{}", masked(config).to_masked_toml());
    Ok(())
}

/// `config` fit for a terminal: every header value of the exporters masked (headers written
/// as they are carry tokens as often as `secret_headers` do), and tokens in URLs' query
/// strings masked. `Config::to_masked_toml` masks the rest.
fn masked(mut config: Config) -> Config {
    let mask_headers = |headers: &mut BTreeMap<String, String>| {
        headers
            .values_mut()
            .for_each(|value| MASK.clone_into(value));
    };
    let scrub_url = |url: &mut String| *url = scrub_secrets(url).into_owned();
    for exporter in config.exporters.values_mut() {
        match &mut exporter.kind {
            ExporterKind::Webhook { url, headers, .. } => {
                mask_headers(headers);
                scrub_url(url);
            }
            ExporterKind::Otlp(options) => {
                mask_headers(&mut options.headers);
                scrub_url(&mut options.endpoint);
            }
            _ => {}
        }
    }
    if let ProviderConfig::Openai(http)
    | ProviderConfig::Ollama(http)
    | ProviderConfig::Anthropic(http) = &mut config.provider
        && let Some(url) = &mut http.base_url
    {
        scrub_url(url);
    }
    config
}
