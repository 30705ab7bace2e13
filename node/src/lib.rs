//! veim-node: a veim node, national or Secretariat.
//!
//! The daemon is a library so that the `veim` CLI, the demo and the
//! integration tests start exactly the same node. `service::start` brings one
//! up from its home folder; the modules are organised by what they own:
//! `network` (the swarm), `store` (every sled call), `directory`, `exchange`,
//! `api` (the local admin HTTP API), `config` and `keys` (the home folder).

pub mod api;
pub mod config;
pub mod directory;
pub mod exchange;
pub mod keys;
pub mod network;
pub mod service;
pub mod shutdown;
pub mod store;

pub use config::{Config, Role, SecretariatPin};
pub use service::{Node, NodeHandle, StartError, start};

/// Installs the log output: `RUST_LOG` if set, else `default`.
pub fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
