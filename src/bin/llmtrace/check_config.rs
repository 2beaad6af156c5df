//! `llmtrace check-config FILE`

use std::path::Path;

use llmtrace::BoxError;
use llmtrace::config::Config;

pub(crate) fn run(file: &Path) -> Result<(), BoxError> {
    // Every check that needs no I/O runs when the file is read.
    let config = Config::load(Some(file))?;
    // A missing API key or header secret would only surface when the stack is built.
    config.check_environment(Some(file))?;
    println!(
        "# {} is valid; effective stack, outermost first:\n# {}\n",
        file.display(),
        config.stack()
    );
    println!("# effective configuration (secrets masked):\n");
    print!("{}", config.to_masked_toml());
    Ok(())
}
