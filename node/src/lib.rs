//! veim-node: a veim node, national or Secretariat.
//!
//! The daemon is a library so that the `veim` CLI, the demo and the
//! integration tests start exactly the same node. [`start`] brings one up
//! from its home folder.
//!
//! # Layout
//!
//! Services own their state and their locks; layers point down, and a
//! module never imports one above it (`node/tests/layers.rs` reads the
//! imports and fails when one does):
//!
//! ```text
//!   api ──────────► app        api: the admin HTTP API (axum), its types in api::types
//!    │               │         app: Node (a struct of services), start/stop/run, loops
//!    │               │
//!    │               ▼
//!    │              peer       inbound requests: the policy, then one service each
//!    ▼               ▼
//!   directory  exchange  audit  terms  attachments       domain services
//!    │                                          │
//!    ▼                                          ▼
//!   storage (sled, records, group commit)      net (swarm, codec, allowance)
//!    │                                          │
//!    ▼                                          ▼
//!   home (config, keys, vault, init)
//!    │
//!    ▼
//!   clock  shutdown                      (and veim-protocol under every layer)
//! ```
//!
//! - `storage` knows records as plain data and nothing of the rules that
//!   make them; `net` moves bytes and knows nothing of what they mean.
//! - Domain services may use one another (terms sends through exchange);
//!   none names `Node`, and none knows of HTTP.
//! - Only `app` wires services together, and only `app` starts the API
//!   (whose handlers hold the node: the one pair allowed to use each other).
//! - sled is used in `storage` alone, axum in `api` alone; there is no
//!   import cycle between modules, within a layer either.

pub mod api;
pub mod app;
pub mod attachments;
pub mod audit;
pub mod clock;
pub mod directory;
pub mod exchange;
pub mod home;
pub mod net;
pub mod peer;
pub mod shutdown;
pub mod storage;
pub mod terms;

pub use app::{Node, NodeHandle, StartError, start};
pub use home::config::{Config, Role, SecretariatPin};

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
        match app::run(&home).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        }
    })
}
