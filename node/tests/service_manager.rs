//! The daemon under a service manager, as systemd runs a `Type=notify` unit
//! with `WatchdogSec=` and a credential: the `veim-node` process is started
//! with `NOTIFY_SOCKET` pointing at a Unix datagram socket this test binds,
//! `WATCHDOG_USEC`, and `CREDENTIALS_DIRECTORY` holding the storage
//! passphrase; what the process sends on the socket is read as systemd would.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use veim_node::home::vault::{PASSPHRASE_CREDENTIAL, STORAGE_KEY_FILE};
use veim_node::home::{RUNTIME_FILE, Runtime, init_home, write_file};
use veim_node::{Config, Role};

/// Kills the daemon if the test fails before stopping it.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn daemon(home: &Path, notify: &Path, credentials: Option<&Path>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_veim-node"));
    command
        .arg("--home")
        .arg(home)
        .env("NOTIFY_SOCKET", notify)
        .env("WATCHDOG_USEC", "400000")
        .env_remove("VEIM_STORAGE_PASSPHRASE")
        .env_remove("VEIM_STORAGE_PASSPHRASE_FILE")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(dir) = credentials {
        command.env("CREDENTIALS_DIRECTORY", dir);
    }
    command
}

/// A Secretariat's home in `dir`, listening on loopback ports the system picks.
fn secretariat_home(dir: &Path) -> std::path::PathBuf {
    let home = dir.join("home");
    let config = Config {
        role: Role::Secretariat,
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        admin_listen: "127.0.0.1:0".into(),
        ..Config::default()
    };
    init_home(&home, &config).expect("init");
    home
}

/// The socket systemd would listen on for the unit's notifications.
fn notify_socket(dir: &Path) -> (std::path::PathBuf, UnixDatagram) {
    let path = dir.join("notify");
    let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
    socket.set_read_timeout(Some(Duration::from_secs(120))).expect("timeout");
    (path, socket)
}

/// The next datagram's lines, or a failure naming what was awaited.
fn next(socket: &UnixDatagram, awaited: &str) -> Vec<String> {
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).unwrap_or_else(|e| panic!("no notification while awaiting {awaited}: {e}"));
    String::from_utf8_lossy(&buf[..n]).lines().map(str::to_string).collect()
}

#[test]
fn the_daemon_tells_the_service_manager_it_serves_then_that_it_lives_then_that_it_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = secretariat_home(dir.path());
    let plain = std::fs::read_to_string(home.join(STORAGE_KEY_FILE)).expect("key file");
    assert!(plain.contains("plain"), "{plain}");
    // As systemd lays out LoadCredential=: a private file named after the credential.
    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).expect("credentials dir");
    write_file(&credentials.join(PASSPHRASE_CREDENTIAL), b"correct horse battery staple\n", true).expect("credential");

    let (notify_path, socket) = notify_socket(dir.path());
    let mut node = Daemon(daemon(&home, &notify_path, Some(&credentials)).spawn().expect("start veim-node"));

    let ready = next(&socket, "READY=1");
    assert!(ready.iter().any(|l| l == "READY=1"), "the first notification says ready: {ready:?}");
    assert!(ready.iter().any(|l| l.starts_with("STATUS=serving as secretariat")), "{ready:?}");
    // Ready means serving: the addresses are published and both ports take connections.
    let runtime: Runtime =
        serde_json::from_slice(&std::fs::read(home.join(RUNTIME_FILE)).expect("runtime.json at READY=1"))
            .expect("runtime.json");
    assert_eq!(runtime.pid, node.0.id());
    std::net::TcpStream::connect(&runtime.admin).expect("the admin API accepts at READY=1");
    let port = runtime.listen.iter().find_map(|a| a.rsplit("/tcp/").next()?.parse::<u16>().ok()).expect("a tcp port");
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("the libp2p listener accepts at READY=1");
    // The storage key is now wrapped with the passphrase from the credential.
    let wrapped = std::fs::read_to_string(home.join(STORAGE_KEY_FILE)).expect("key file");
    assert!(wrapped.contains("argon2id") && !wrapped.contains("plain"), "{wrapped}");

    // Then the watchdog is fed, again and again, at half its 400 ms period.
    let since = Instant::now();
    for _ in 0..3 {
        let ping = next(&socket, "WATCHDOG=1");
        assert_eq!(ping, ["WATCHDOG=1"]);
    }
    assert!(since.elapsed() < Duration::from_secs(60));

    let term = Command::new("kill").args(["-TERM", &node.0.id().to_string()]).status().expect("kill");
    assert!(term.success());
    let stopping = loop {
        let lines = next(&socket, "STOPPING=1");
        if lines != ["WATCHDOG=1"] {
            break lines;
        }
    };
    assert!(stopping.iter().any(|l| l == "STOPPING=1"), "{stopping:?}");
    let status = node.0.wait().expect("wait");
    assert!(status.success(), "the daemon exits 0 on SIGTERM: {status}");

    // Without the credential the wrapped key stays shut, and the daemon says
    // how to give the passphrase instead of starting.
    let output = daemon(&home, &notify_path, None).stderr(Stdio::piped()).output().expect("run veim-node");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("protected by a passphrase") && stderr.contains(PASSPHRASE_CREDENTIAL), "{stderr}");
    // A start that failed sent no READY=1.
    socket.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(!text.contains("READY=1"), "{text}");
    }
}

#[test]
fn the_daemon_takes_its_home_and_its_passphrase_file_from_the_environment() {
    // As the container image runs it: no arguments, VEIM_HOME and
    // VEIM_STORAGE_PASSPHRASE_FILE (a mounted secret) in the environment.
    let dir = tempfile::tempdir().expect("tempdir");
    let home = secretariat_home(dir.path());
    let secret = dir.path().join("veim-storage-passphrase");
    write_file(&secret, b"correct horse battery staple\n", true).expect("secret");
    let (notify_path, socket) = notify_socket(dir.path());
    let mut node = Daemon(
        Command::new(env!("CARGO_BIN_EXE_veim-node"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("VEIM_HOME", &home)
            .env("VEIM_STORAGE_PASSPHRASE_FILE", &secret)
            .env("NOTIFY_SOCKET", &notify_path)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start veim-node"),
    );
    let ready = next(&socket, "READY=1");
    assert!(ready.iter().any(|l| l == "READY=1"), "{ready:?}");
    assert!(home.join(RUNTIME_FILE).exists(), "the node runs in VEIM_HOME");
    let wrapped = std::fs::read_to_string(home.join(STORAGE_KEY_FILE)).expect("key file");
    assert!(wrapped.contains("argon2id"), "wrapped with the passphrase of the file: {wrapped}");
    let term = Command::new("kill").args(["-TERM", &node.0.id().to_string()]).status().expect("kill");
    assert!(term.success());
    assert!(node.0.wait().expect("wait").success());
}
