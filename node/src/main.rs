//! `veim-node`: the daemon alone, for service managers. Operators usually run
//! `veim node run`, which starts the same node.

fn main() -> std::process::ExitCode {
    veim_node::daemon_main()
}
