//! veim-node: a veim node, national or Secretariat.
//!
//! The daemon is a library so that the `veim` CLI, the demo and the
//! integration tests start exactly the same node. `service::start` brings one
//! up from its home folder; the modules are organised by what they own:
//! `network` (the swarm), `store` (every sled call), `directory`, `exchange`,
//! `api` (the local admin HTTP API), `config` and `keys` (the home folder).

pub mod api;
pub mod attachments;
pub mod audit;
pub mod config;
pub mod directory;
pub mod exchange;
pub mod keys;
pub mod network;
pub mod reconcile;
pub mod service;
pub mod shutdown;
pub mod store;
pub mod terms;
pub mod vault;

pub use config::{Config, Role, SecretariatPin};
pub use service::{Node, NodeHandle, StartError, start};

/// Installs the log output: `RUST_LOG` if set, else `default`.
pub fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
}

/// The daemon's entry point: `veim-node --home DIR` (or `$VEIM_HOME`). Runs
/// until Ctrl-C or SIGTERM.
pub fn daemon_main() -> std::process::ExitCode {
    use std::process::ExitCode;
    init_tracing("info");
    let mut args = std::env::args().skip(1);
    let home = match (args.next().as_deref(), args.next()) {
        (Some("--home"), Some(home)) => std::path::PathBuf::from(home),
        _ => match std::env::var_os("VEIM_HOME") {
            Some(home) => std::path::PathBuf::from(home),
            None => {
                eprintln!("usage: veim-node --home DIR   (or set VEIM_HOME)");
                return ExitCode::from(2);
            }
        },
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        match service::run(&home).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        }
    })
}
