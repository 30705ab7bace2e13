//! veim-tools: the `veim` command line. A library as well, so that the demo
//! and the integration tests drive nodes exactly as an operator does: through
//! the admin API.

pub mod audit;
pub mod bench;
pub mod bench_console;
pub mod client;
pub mod demo;
pub mod floor;
pub mod hostile;
pub mod joiner;
pub mod localnet;
pub mod publish;
pub mod render;
pub mod report;
pub mod scale;
pub mod soak;
pub mod terminal;
pub mod terms;
pub mod users;

pub use client::{AdminClient, ClientError};
