//! The node daemon as a separate process, for the tests that kill a node
//! with SIGKILL: `veim-test-node --home DIR`.

#[global_allocator]
static ALLOCATOR: veim_node::Allocator = veim_node::Allocator;

fn main() -> std::process::ExitCode {
    veim_node::daemon_main()
}
