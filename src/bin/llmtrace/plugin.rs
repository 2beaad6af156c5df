//! `llmtrace plugin check PATH`: what a plugin library is, or exactly why it cannot be loaded.

use std::path::PathBuf;

use clap::Subcommand;
use llmtrace::BoxError;
use llmtrace::plugin::{PluginInfo, inspect};

#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Load a plugin library and print what it declares (name, kind, versions), or why it is
    /// not a loadable plugin (exit status 1). Creates no instance.
    Check {
        /// Path of the shared library (`lib<name>.so`, `lib<name>.dylib`, `<name>.dll`).
        path: PathBuf,
    },
}

pub(crate) fn run(command: PluginCommand) -> Result<(), BoxError> {
    match command {
        PluginCommand::Check { path } => {
            let info = inspect(&path)?;
            print!("{}", describe(&info));
            Ok(())
        }
    }
}

fn describe(info: &PluginInfo) -> String {
    let yes_no = |flag: bool| if flag { "yes" } else { "no" };
    format!(
        "plugin          {}\n\
         path            {}\n\
         kind            {}\n\
         plugin version  {}\n\
         abi version     {}\n\
         api version     {} (llmtrace-plugin-abi, informational; this host: {})\n\
         thread-safe     {}\n",
        info.name,
        info.path.display(),
        info.kind,
        info.plugin_version,
        info.abi_version,
        info.api_version.as_deref().unwrap_or("none"),
        llmtrace::plugin::host_api_version(),
        yes_no(info.thread_safe),
    )
}
