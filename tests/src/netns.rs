//! Machines of their own for the multi-host tests: each host a network
//! namespace with its own address on one LAN (a bridge in a namespace of
//! its own, so the machine's network is never touched), and its own hosts
//! file (`ip netns exec` puts `/etc/netns/<namespace>/hosts` over
//! `/etc/hosts`), so that its names resolve through the system's resolver
//! as on a real machine. Nodes run inside with [`crate::NodeProcess::started_in`];
//! the test reaches their admin APIs with [`in_namespace`].
//!
//! Needs root (CAP_NET_ADMIN), iproute2's `ip` and, for a port forward,
//! nftables' `nft`: run as root on Debian, the first LAN of a run installs
//! whichever is missing with apt-get ([`install_tools`]).
//! The namespaces and hosts files are removed when the [`Lan`] is dropped,
//! whether the test passed or not.

use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// Where `ip netns exec` finds the files it puts over `/etc` in a namespace.
const ETC_NETNS: &str = "/etc/netns";
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

/// Hosts on one LAN (`10.77.0.0/24`, inside the namespaces only), and
/// those behind a router on it.
#[derive(Debug)]
pub struct Lan {
    prefix: String,
    pub hosts: Vec<Host>,
    /// Made so far, removed on drop (the bridge's included).
    namespaces: Vec<String>,
    etc_dirs: Vec<PathBuf>,
    /// Whether this LAN made `/etc/netns` (then it removes it, if empty).
    made_etc_netns: bool,
}

/// Runs `command`, `input` on its stdin: its output, or an error naming
/// `what` and what it said.
fn run(mut command: Command, what: &str, input: Option<&str>) -> anyhow::Result<String> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| {
            anyhow::anyhow!(
                "cannot run `{what}`: {e}; the multi-host tests need iproute2's `ip` and nftables' `nft` \
             (apt-get install iproute2 nftables)"
            )
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "`{what}` failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip` with `args`.
pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    let mut command = Command::new("ip");
    command.args(args);
    run(command, &format!("ip {}", args.join(" ")), None).map(|_| ())
}

/// Runs `program` inside network namespace `namespace`, `input` on its stdin.
fn run_in(namespace: &str, program: &str, args: &[&str], input: Option<&str>) -> anyhow::Result<String> {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", namespace, program]).args(args);
    run(command, &format!("{program} {} (in {namespace})", args.join(" ")), input)
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

/// Installs iproute2 and nftables with apt-get when `ip` or `nft` is
/// missing (once a run): the test command needs nothing installed by hand.
fn install_tools() -> anyhow::Result<()> {
    static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let found = |program: &str| Command::new(program).arg("-V").output().is_ok();
    INSTALLED
        .get_or_init(|| {
            let missing: Vec<&str> = [("ip", "iproute2"), ("nft", "nftables")]
                .into_iter()
                .filter(|(program, _)| !found(program))
                .map(|(_, package)| package)
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            crate::apt_install(&missing, "the multi-host tests")
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Removes the namespaces and hosts files of earlier runs that were killed
/// before they could (`veim<pid>n…` whose process is gone), and the node
/// processes still running in them.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else { return };
    for name in entries.flatten().filter_map(|e| e.file_name().into_string().ok()) {
        let Some(pid) = name.strip_prefix("veim").and_then(|rest| rest.split_once('n')).map(|(pid, _)| pid) else {
            continue;
        };
        let gone = pid.parse::<u32>().is_ok_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if gone {
            let _ = Command::new("ip").args(["netns", "pids", &name]).output().map(|out| {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            });
            let _ = ip(&["netns", "del", &name]);
            let _ = std::fs::remove_dir_all(Path::new(ETC_NETNS).join(&name));
        }
    }
}

static LANS: AtomicU32 = AtomicU32::new(0);

impl Lan {
    /// One host per name, `10.77.0.1` for the first, each with a hosts file
    /// that lists every host by its name.
    pub fn new(names: &[&str]) -> anyhow::Result<Lan> {
        require_root()?;
        install_tools()?;
        remove_stale();
        // Names of their own for each run (pid) and each LAN of the run.
        let prefix = format!("veim{}n{}", std::process::id(), LANS.fetch_add(1, Ordering::Relaxed));
        let mut lan = Lan {
            prefix: prefix.clone(),
            hosts: Vec::new(),
            namespaces: Vec::new(),
            etc_dirs: Vec::new(),
            made_etc_netns: false,
        };
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
        lan.write_hosts_files()?;
        Ok(lan)
    }

    /// Adds a router on the LAN, known there as `public_name`, that
    /// forwards TCP port `port` (DNAT) to a host behind it on a private
    /// network of its own (`192.168.1.0/24`), known as `inside_name`, whose
    /// outbound connections it masquerades, as a ministry's firewall would.
    /// Returns the host behind it. Needs `nft` (nftables).
    pub fn behind_port_forward(&mut self, public_name: &str, inside_name: &str, port: u16) -> anyhow::Result<Host> {
        let prefix = self.prefix.clone();
        let i = self.hosts.len();
        let router = format!("{prefix}-r{i}");
        let inside = format!("{prefix}-i{i}");
        self.add_namespace(&router)?;
        self.add_namespace(&inside)?;
        let switch = format!("{prefix}-lan");
        let port_name = format!("p{i}");
        ip(&["link", "add", "eth0", "netns", &router, "type", "veth", "peer", "name", &port_name, "netns", &switch])?;
        ip(&["-n", &switch, "link", "set", &port_name, "master", "br0"])?;
        ip(&["-n", &switch, "link", "set", &port_name, "up"])?;
        ip(&["link", "add", "eth1", "netns", &router, "type", "veth", "peer", "name", "eth0", "netns", &inside])?;
        let public = Ipv4Addr::new(10, 77, 0, u8::try_from(i + 1)?);
        let private = Ipv4Addr::new(192, 168, 1, 2);
        ip(&["-n", &router, "addr", "add", &format!("{public}/24"), "dev", "eth0"])?;
        ip(&["-n", &router, "addr", "add", "192.168.1.1/24", "dev", "eth1"])?;
        ip(&["-n", &inside, "addr", "add", &format!("{private}/24"), "dev", "eth0"])?;
        for (ns, dev) in [(&router, "eth0"), (&router, "eth1"), (&router, "lo"), (&inside, "eth0"), (&inside, "lo")] {
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        ip(&["-n", &inside, "route", "add", "default", "via", "192.168.1.1"])?;
        run_in(&router, "sysctl", &["-qw", "net.ipv4.ip_forward=1"], None)?;
        let rules = format!(
            "table ip veim_nat {{\n\
             chain prerouting {{ type nat hook prerouting priority dstnat; iif \"eth0\" tcp dport {port} counter dnat to {private}:{port}; }}\n\
             chain postrouting {{ type nat hook postrouting priority srcnat; oif \"eth0\" masquerade; }}\n\
             }}\n"
        );
        run_in(&router, "nft", &["-f", "-"], Some(&rules))
            .map_err(|e| anyhow::anyhow!("{e}; the port-forward test needs nftables (apt-get install nftables)"))?;
        self.hosts.push(Host { namespace: router, ip: public, name: public_name.to_string() });
        let host = Host { namespace: inside, ip: private, name: inside_name.to_string() };
        self.hosts.push(host.clone());
        self.write_hosts_files()?;
        Ok(host)
    }

    /// How many connections the router at `public_name` has forwarded (NAT
    /// rules see the first packet of each).
    pub fn forwarded(&self, public_name: &str) -> anyhow::Result<u64> {
        let router = &self.host(public_name).namespace;
        let text = run_in(router, "nft", &["list", "chain", "ip", "veim_nat", "prerouting"], None)?;
        text.split_whitespace()
            .skip_while(|w| *w != "packets")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no packet counter in {router}'s forwarding rule: {text}"))
    }

    /// Every host's `/etc/hosts`, as `ip netns exec` shows it: every name
    /// of the LAN (and of the private network behind a router).
    fn write_hosts_files(&mut self) -> anyhow::Result<()> {
        let mut hosts = String::from("127.0.0.1 localhost\n");
        for h in &self.hosts {
            hosts.push_str(&format!("{} {}\n", h.ip, h.name));
        }
        self.made_etc_netns |= !Path::new(ETC_NETNS).exists();
        for h in self.hosts.clone() {
            let dir = Path::new(ETC_NETNS).join(&h.namespace);
            std::fs::create_dir_all(&dir)?;
            if !self.etc_dirs.contains(&dir) {
                self.etc_dirs.push(dir.clone());
            }
            std::fs::write(dir.join("hosts"), &hosts)?;
            // No name server on this LAN: names come from the hosts file.
            std::fs::write(dir.join("resolv.conf"), "# no name server on this LAN\n")?;
        }
        Ok(())
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
        if self.made_etc_netns {
            let _ = std::fs::remove_dir(ETC_NETNS);
        }
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
