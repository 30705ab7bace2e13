//! `veim-node`: the daemon alone, for service managers. Operators usually run
//! `veim node run`, which starts the same node.

use std::path::PathBuf;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    veim_node::init_tracing("info");
    let mut args = std::env::args().skip(1);
    let home = match (args.next().as_deref(), args.next()) {
        (Some("--home"), Some(home)) => PathBuf::from(home),
        _ => match std::env::var_os("VEIM_HOME") {
            Some(home) => PathBuf::from(home),
            None => {
                eprintln!("usage: veim-node --home DIR   (or set VEIM_HOME)");
                return ExitCode::from(2);
            }
        },
    };
    match veim_node::start(&home).await {
        Ok(node) => {
            node.run_until_signal().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
