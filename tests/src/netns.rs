//! Machines of their own for the multi-host tests: each host a network
//! namespace with its own address on one LAN (a bridge in a namespace of
//! its own, so the machine's network is never touched), and its own hosts
//! file (`ip netns exec` puts `/etc/netns/<namespace>/hosts` over
//! `/etc/hosts`), so that its names resolve through the system's resolver
//! as on a real machine. Nodes run inside with [`crate::NodeProcess::started_in`];
//! the test reaches their admin APIs with [`in_namespace`].
//!
//! Needs root (CAP_NET_ADMIN) and iproute2's `ip`: `.ci/run` installs it.
//! The namespaces and hosts files are removed when the [`Lan`] is dropped,
//! whether the test passed or not.

use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// One machine of the LAN.
#[derive(Debug, Clone)]
pub struct Host {
    /// The network namespace that plays it.
    pub namespace: String,
    /// Its address on the LAN.
    pub ip: Ipv4Addr,
    /// The DNS name every host's hosts file gives it.
    pub name: String,
}

/// Hosts on one LAN (`10.77.0.0/24`, inside the namespaces only).
#[derive(Debug)]
pub struct Lan {
    pub hosts: Vec<Host>,
    /// Made so far, removed on drop (the bridge's included).
    namespaces: Vec<String>,
    etc_dirs: Vec<PathBuf>,
}

/// Runs `ip` with `args`; an error names the command and what it said.
pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        anyhow::anyhow!("cannot run `ip` (iproute2), which the multi-host tests need: {e}; install it (apt-get install iproute2)")
    })?;
    anyhow::ensure!(
        out.status.success(),
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Fails, saying why, when this process cannot make network namespaces.
fn require_root() -> anyhow::Result<()> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .ok_or_else(|| anyhow::anyhow!("no Uid line in /proc/self/status"))?;
    anyhow::ensure!(
        euid == "0",
        "the multi-host tests make network namespaces (`ip netns add`), which needs root (CAP_NET_ADMIN); \
         this test runs as uid {euid}: run it as root, as CI does"
    );
    Ok(())
}

static LANS: AtomicU32 = AtomicU32::new(0);

impl Lan {
    /// One host per name, `10.77.0.1` for the first, each with a hosts file
    /// that lists every host by its name.
    pub fn new(names: &[&str]) -> anyhow::Result<Lan> {
        require_root()?;
        // Names of their own for each run (pid) and each LAN of the run.
        let prefix = format!("veim{}n{}", std::process::id(), LANS.fetch_add(1, Ordering::Relaxed));
        let mut lan = Lan { hosts: Vec::new(), namespaces: Vec::new(), etc_dirs: Vec::new() };
        let switch = format!("{prefix}-lan");
        lan.add_namespace(&switch)?;
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &switch, "link", "set", "br0", "up"])?;
        for (i, name) in names.iter().enumerate() {
            let namespace = format!("{prefix}-h{i}");
            lan.add_namespace(&namespace)?;
            let port = format!("p{i}");
            ip(&["link", "add", "eth0", "netns", &namespace, "type", "veth", "peer", "name", &port, "netns", &switch])?;
            ip(&["-n", &switch, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &switch, "link", "set", &port, "up"])?;
            let address = Ipv4Addr::new(10, 77, 0, u8::try_from(i + 1)?);
            ip(&["-n", &namespace, "addr", "add", &format!("{address}/24"), "dev", "eth0"])?;
            ip(&["-n", &namespace, "link", "set", "eth0", "up"])?;
            ip(&["-n", &namespace, "link", "set", "lo", "up"])?;
            lan.hosts.push(Host { namespace, ip: address, name: name.to_string() });
        }
        let mut hosts = String::from("127.0.0.1 localhost\n");
        for h in &lan.hosts {
            hosts.push_str(&format!("{} {}\n", h.ip, h.name));
        }
        for h in lan.hosts.clone() {
            let dir = PathBuf::from("/etc/netns").join(&h.namespace);
            std::fs::create_dir_all(&dir)?;
            lan.etc_dirs.push(dir.clone());
            std::fs::write(dir.join("hosts"), &hosts)?;
            // No name server on this LAN: names come from the hosts file.
            std::fs::write(dir.join("resolv.conf"), "# no name server on this LAN\n")?;
        }
        Ok(lan)
    }

    fn add_namespace(&mut self, name: &str) -> anyhow::Result<()> {
        ip(&["netns", "add", name])?;
        self.namespaces.push(name.to_string());
        Ok(())
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> &Host {
        self.hosts.iter().find(|h| h.name == name).unwrap_or_else(|| panic!("no host {name} on this LAN"))
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for dir in &self.etc_dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
        // Only if no other LAN uses it.
        let _ = std::fs::remove_dir("/etc/netns");
        for ns in self.namespaces.iter().rev() {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("could not remove network namespace {ns}: {e}");
            }
        }
    }
}

/// Runs `f` on a thread of its own moved into network namespace
/// `namespace`: the sockets it opens are that host's (its admin API
/// listens on that host's loopback address).
pub fn in_namespace<T: Send>(namespace: &str, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(format!("/run/netns/{namespace}"))?;
            rustix::thread::move_into_link_name_space(file.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network))
                .map_err(|e| anyhow::anyhow!("cannot enter network namespace {namespace}: {e}"))?;
            Ok(f())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the thread in namespace {namespace} panicked"))?
    })
}
