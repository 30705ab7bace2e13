//! `veim-node`: the daemon alone, for service managers. Operators usually run
//! `veim node run`, which starts the same node.

#[global_allocator]
static ALLOCATOR: veim_node::Allocator = veim_node::Allocator;

fn main() -> std::process::ExitCode {
    veim_node::daemon_main()
}
