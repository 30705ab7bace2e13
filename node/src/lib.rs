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
//!   api ──────────► app        api: the admin HTTP API (axum), its types in api::types, the web console (api::console)
//!    │               │         app: Node (a struct of services), start/stop/run, loops
//!    │               │
//!    │               ▼
//!    │              peer       inbound requests: the policy, then one service each
//!    ▼               ▼
//!   directory  exchange  audit  terms  attachments       domain services
//!   tracking  backup  mail  reports                       (backups, mail, reports to the CSP)
//!   publications  backup  accounts                        (and backups, officials' accounts)
//!    │                                          │
//!    ▼                                          ▼
//!   storage (sled, records, group commit)      net (swarm, codec, allowance)
//!    │                                          │
//!    ▼                                          ▼
//!   home (config, keys, vault, init)
//!    │
//!    ▼
//!   clock  shutdown  address  acting     (and veim-protocol under every layer)
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

pub mod accounts;
pub mod acting;
pub mod address;
pub mod api;
pub mod app;
pub mod attachments;
pub mod audit;
pub mod backup;
pub mod clock;
pub mod directory;
pub mod exchange;
pub mod home;
pub mod mail;
pub mod net;
pub mod peer;
pub mod publications;
pub mod reports;
pub mod shutdown;
pub mod storage;
pub mod terms;
pub mod tracking;

pub use app::{Node, NodeHandle, StartError, start};
pub use home::config::{Config, Role, SecretariatPin};
/// The allocator every veim binary declares (`#[global_allocator]`),
/// jemalloc: sled allocates and frees a tree node or an update per write,
/// on which glibc's malloc spent a tenth of a node's CPU
/// (docs/BENCHMARKS.md, "exchange").
pub use tikv_jemallocator::Jemalloc as Allocator;

/// How the node writes its log, always to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Lines for people, coloured only when stderr is a terminal and
    /// `NO_COLOR` is not set: a file or a journal gets no escape codes.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, the
    /// message and its fields), for a log collector.
    Json,
}

/// The environment variable that chooses the log format when no
/// `--log-format` is given.
pub const LOG_FORMAT_ENV: &str = "VEIM_LOG_FORMAT";

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<LogFormat, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format {other:?}: use text or json")),
        }
    }
}

impl LogFormat {
    /// `--log-format` if given, else `$VEIM_LOG_FORMAT`, else text.
    pub fn chosen(flag: Option<&str>) -> Result<LogFormat, String> {
        match flag.map(str::to_string).or_else(|| std::env::var(LOG_FORMAT_ENV).ok().filter(|v| !v.is_empty())) {
            Some(format) => format.parse(),
            None => Ok(LogFormat::Text),
        }
    }
}

/// Installs the log output on stderr: the levels of `RUST_LOG` if set,
/// else `default`; in `format`.
pub fn init_tracing(default: &str, format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().with_ansi(false).flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            builder.with_target(false).with_ansi(colour).try_init()
        }
    };
}

/// The daemon's entry point: `veim-node --home DIR [--log-format text|json]`
/// (or `$VEIM_HOME`, `$VEIM_LOG_FORMAT`). Runs until Ctrl-C or SIGTERM.
pub fn daemon_main() -> std::process::ExitCode {
    use std::process::ExitCode;
    const USAGE: &str = "usage: veim-node --home DIR [--log-format text|json]   (or set VEIM_HOME, VEIM_LOG_FORMAT)";
    let (mut home, mut log_format) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--home", Some(dir)) => home = Some(std::path::PathBuf::from(dir)),
            ("--log-format", Some(format)) => log_format = Some(format),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let format = match LogFormat::chosen(log_format.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    init_tracing("info", format);
    let Some(home) = home.or_else(|| std::env::var_os("VEIM_HOME").map(std::path::PathBuf::from)) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
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
