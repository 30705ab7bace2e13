//! A veim network on this machine: a Secretariat and national nodes, each a
//! real node (own home folder, own sled store, own libp2p swarm on
//! 127.0.0.1), started in this process. The demo runs on it, and so do the
//! integration tests.

use crate::client::{AdminClient, ClientError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use veim_node::api::{PendingView, StatusView, VersionView};
use veim_node::home::config::{Config, Role, SecretariatPin};
use veim_node::home::init_home;
use veim_node::{NodeHandle, StartError};
use veim_protocol::StateCode;

/// One node of the local network.
#[derive(Debug)]
pub struct LocalNode {
    pub label: String,
    pub state: Option<StateCode>,
    pub home: PathBuf,
    pub address: String,
    pub handle: Option<NodeHandle>,
}

impl LocalNode {
    /// The admin client of the running node.
    pub fn api(&self) -> Result<AdminClient, ClientError> {
        AdminClient::for_home(&self.home)
    }

    /// The admin client of the running node, acting with `token` (an
    /// official's account).
    pub fn api_as(&self, token: &str) -> Result<AdminClient, ClientError> {
        Ok(AdminClient::for_home(&self.home)?.with_token(token))
    }

    pub async fn start(&mut self) -> Result<(), StartError> {
        if self.handle.is_none() {
            self.handle = Some(veim_node::start(&self.home).await?);
        }
        Ok(())
    }

    /// Restarts the node if it asked to (after moving to new keys), as the
    /// daemon does. Returns whether it did.
    pub async fn follow_restart(&mut self) -> Result<bool, StartError> {
        if self.handle.as_ref().is_some_and(|h| h.node.restart.asked()) {
            self.stop().await;
            self.start().await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Stops the node cleanly (its data stays).
    pub async fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.stop().await;
        }
    }

    pub fn state_code(&self) -> StateCode {
        self.state.unwrap_or_else(|| panic!("{} is not a national node", self.label))
    }
}

/// Starts a node created to listen on port 0, then writes the port it got
/// into its configuration, so that a restarted node keeps its address (and
/// no port is picked in advance, free then taken by someone else).
async fn start_and_pin(home: &Path) -> anyhow::Result<(NodeHandle, String)> {
    let handle = veim_node::start(home).await?;
    let address =
        handle.node.listen.first().map(|a| a.to_string()).ok_or_else(|| anyhow::anyhow!("no listen address"))?;
    let mut config = Config::load(home)?;
    config.listen = vec![address.clone()];
    config.save(home)?;
    Ok((handle, address))
}

/// A node of the local network moved into a process of its own
/// (`veim --home HOME node run`), so that its memory is its own; killed
/// when dropped.
#[derive(Debug)]
pub struct NodeProcess(std::process::Child);

impl NodeProcess {
    /// Stops `node` in this process and starts it again in a child process
    /// of this executable, on the same home folder (the same keys, store and
    /// address); returns once its admin API answers.
    pub async fn take_over(node: &mut LocalNode) -> anyhow::Result<NodeProcess> {
        node.stop().await;
        let _ = std::fs::remove_file(node.home.join(veim_node::home::RUNTIME_FILE));
        let child = NodeProcess(
            std::process::Command::new(std::env::current_exe()?)
                .arg("--home")
                .arg(&node.home)
                .args(["node", "run"])
                .env("RUST_LOG", "error")
                .stdout(std::process::Stdio::null())
                .spawn()?,
        );
        let home = node.home.clone();
        wait_for(&format!("{}'s node process to serve", node.label), Duration::from_secs(30), || {
            AdminClient::for_home(&home).ok()?.get::<serde_json::Value>("/v1/status").ok()
        })
        .await?;
        Ok(child)
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A memory figure of process `pid` from its `/proc/PID/status` (`field`:
/// "VmRSS:", "VmHWM:"), in MiB; 0 when it cannot be read.
pub fn memory_of(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

#[derive(Debug)]
pub struct LocalNet {
    pub root: PathBuf,
    pub secretariat: LocalNode,
    pub secretariat_key: String,
    pub nationals: Vec<LocalNode>,
    pub poll_secs: u64,
    /// Applied to every node's configuration before it is first started.
    pub tune: fn(&mut Config),
}

/// Runs a blocking admin call without stalling the runtime's other tasks.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Polls `check` until it returns `Some`, or fails after `timeout` naming `what`.
pub async fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> anyhow::Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = blocking(&mut check) {
            return Ok(v);
        }
        if start.elapsed() > timeout {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The settings every node of a local network shares: loopback addresses
/// with ports picked by the system, and short periods, so that what takes
/// minutes between ministries takes seconds here.
fn local_config(poll_secs: u64) -> Config {
    Config {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        announce: Vec::new(),
        admin_listen: "127.0.0.1:0".into(),
        replay_window_secs: 3600,
        directory_poll_secs: poll_secs,
        audit_checkpoint_secs: 1,
        retry_base_secs: 1,
        retry_max_secs: 2,
        reconcile_secs: 2,
        attachment_chunk_bytes: 64 * 1024,
        // Every node of a local network listens on the loopback address.
        private_addresses: true,
        // ...so all its nodes come from one address, and all register at
        // once with the Secretariat (strangers until admitted).
        max_connections: 4096,
        max_stranger_connections: 4000,
        max_connections_per_address: 4096,
        ..Config::default()
    }
}

/// Periods as a deployed node has them, not the short ones of the demo, for
/// measurements: no checkpoint or reconciliation every second or two competing
/// with what is measured (retries stay short).
pub fn deployed_periods(c: &mut Config) {
    c.directory_poll_secs = 30;
    c.audit_checkpoint_secs = 60;
    c.reconcile_secs = 300;
    c.retry_base_secs = 1;
    c.retry_max_secs = 5;
}

impl LocalNet {
    /// Creates and starts the Secretariat's node under `root`.
    pub async fn new(root: &Path) -> anyhow::Result<LocalNet> {
        LocalNet::tuned(root, |_| {}).await
    }

    /// Like `new`, with `tune` applied to every node's configuration.
    pub async fn tuned(root: &Path, tune: fn(&mut Config)) -> anyhow::Result<LocalNet> {
        let home = root.join("secretariat");
        let mut config = Config {
            role: Role::Secretariat,
            state: None,
            operator: "ATT Secretariat".into(),
            secretariat: None,
            ..local_config(1)
        };
        tune(&mut config);
        let keys = init_home(&home, &config)?;
        let (handle, address) = start_and_pin(&home).await?;
        let secretariat = LocalNode { label: "Secretariat".into(), state: None, home, address, handle: Some(handle) };
        Ok(LocalNet {
            root: root.to_path_buf(),
            secretariat,
            secretariat_key: keys.identity.public().to_string(),
            nationals: Vec::new(),
            poll_secs: 1,
            tune,
        })
    }

    /// Creates and starts a national node; it registers with the Secretariat
    /// on its own. Returns its index in `nationals`.
    pub async fn add_national(&mut self, state: &str, operator: &str) -> anyhow::Result<usize> {
        let code: StateCode = state.parse()?;
        let (home, config) = self.national_home(code, operator);
        init_home(&home, &config)?;
        let (handle, address) = start_and_pin(&home).await?;
        self.nationals.push(LocalNode {
            label: code.to_string(),
            state: Some(code),
            home,
            address,
            handle: Some(handle),
        });
        Ok(self.nationals.len() - 1)
    }

    /// Creates and starts the national nodes of `states` at the same time,
    /// as the States' own machines start, each on its own; each registers
    /// with the Secretariat on its own.
    pub async fn add_nationals(&mut self, states: &[StateCode], operator: &str) -> anyhow::Result<()> {
        let starts = states.iter().map(|&code| {
            let (home, config) = self.national_home(code, operator);
            async move {
                let folder = home.clone();
                tokio::task::spawn_blocking(move || init_home(&folder, &config)).await??;
                let (handle, address) = start_and_pin(&home).await?;
                anyhow::Ok(LocalNode {
                    label: code.to_string(),
                    state: Some(code),
                    home,
                    address,
                    handle: Some(handle),
                })
            }
        });
        let started = futures::future::try_join_all(starts).await?;
        self.nationals.extend(started);
        Ok(())
    }

    /// A national node's home folder and configuration in this network.
    fn national_home(&self, code: StateCode, operator: &str) -> (PathBuf, Config) {
        let home = self.root.join(code.as_str().to_ascii_lowercase());
        let mut config = Config {
            role: Role::National,
            state: Some(code),
            operator: operator.into(),
            secretariat: Some(SecretariatPin {
                public_key: self.secretariat_key.clone(),
                address: self.secretariat.address.clone(),
            }),
            ..local_config(self.poll_secs)
        };
        (self.tune)(&mut config);
        (home, config)
    }

    pub fn national(&self, state: &str) -> &LocalNode {
        self.nationals.iter().find(|n| n.label == state).unwrap_or_else(|| panic!("no national node {state}"))
    }

    pub fn national_mut(&mut self, state: &str) -> &mut LocalNode {
        self.nationals.iter_mut().find(|n| n.label == state).unwrap_or_else(|| panic!("no national node {state}"))
    }

    /// Waits until the Secretariat holds a registration from `state`, checks
    /// its fingerprint against the node's own (the out-of-band check), and
    /// approves it.
    pub async fn admit(&self, state: &str) -> anyhow::Result<VersionView> {
        let node = self.national(state);
        let own: StatusView = blocking(|| node.api()?.get("/v1/status"))?;
        let sec = self.secretariat.api()?;
        // A node registers as soon as it starts, and again after a failed
        // try; on a machine busy with many networks at once (the test
        // suite) that can take more than twenty seconds.
        let pending = wait_for(&format!("the registration of {state}"), Duration::from_secs(60), || {
            let list: Vec<PendingView> = sec.get("/v1/directory/pending").ok()?;
            list.into_iter().find(|p| p.state.as_str() == state)
        })
        .await?;
        anyhow::ensure!(
            pending.fingerprint == own.fingerprint,
            "the fingerprint the Secretariat received for {state} ({}) is not the node's own ({})",
            pending.fingerprint,
            own.fingerprint
        );
        let approve = veim_node::api::ApproveRequest { state: state.into(), fingerprint: own.fingerprint };
        Ok(blocking(|| sec.post("/v1/directory/approve", &approve))?)
    }

    /// An approval of every national node, each under the fingerprint its
    /// node shows.
    pub fn approvals(&self) -> anyhow::Result<Vec<veim_node::api::ApproveRequest>> {
        let mut approvals = Vec::with_capacity(self.nationals.len());
        for node in &self.nationals {
            let status: StatusView = blocking(|| node.api()?.get("/v1/status"))?;
            approvals
                .push(veim_node::api::ApproveRequest { state: node.label.clone(), fingerprint: status.fingerprint });
        }
        Ok(approvals)
    }

    /// Waits until every running national node holds directory version `version`.
    pub async fn wait_directory(&self, version: u64) -> anyhow::Result<()> {
        for n in self.nationals.iter().filter(|n| n.handle.is_some()) {
            let api = n.api()?;
            wait_for(&format!("{} to hold directory version {version}", n.label), Duration::from_secs(20), || {
                let s: StatusView = api.post("/v1/directory/sync", &()).ok()?;
                (s.directory_version >= version).then_some(())
            })
            .await?;
        }
        Ok(())
    }

    /// Stops every node.
    pub async fn shutdown(mut self) {
        for n in &mut self.nationals {
            n.stop().await;
        }
        self.secretariat.stop().await;
    }
}
