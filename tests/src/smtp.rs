//! A real SMTP server on 127.0.0.1 for the mail tests: Debian's aiosmtpd
//! (`python3-aiosmtpd`), run as its own process by `tests/smtp/mailbox_server.py`
//! with aiosmtpd's `Mailbox` handler, which writes each mail it takes to a
//! Maildir the test reads; with STARTTLS and a login required when asked
//! ([`Options`]).
//! The first server of a run installs the package with apt-get when it is
//! missing (as the multi-host tests install iproute2), so the tests need
//! nothing installed by hand on a fresh Debian machine; a server that
//! cannot be installed or started fails the test, it is never skipped.
//!
//! aiosmtpd rather than an SMTP server written for the tests: it is a
//! maintained server that speaks the protocol as mail servers do (EHLO,
//! pipelining, the dot-stuffing of DATA), so what the node sends is what a
//! real relay would take.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Python of the system, where apt-get installs aiosmtpd (not a
/// Python of the user's PATH, which would not see it).
const PYTHON: &str = "/usr/bin/python3";

/// The script that runs the server.
const SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/smtp/mailbox_server.py");

/// What the server requires.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// STARTTLS, required, with this certificate chain and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// A login, required, with this user and password.
    pub login: Option<(String, String)>,
    /// Addresses answered `550` (no such user) at `RCPT TO`.
    pub refuse: Vec<String>,
}

/// A test CA and a certificate it signed for `localhost` and 127.0.0.1,
/// written to `dir` as `ca.pem`, `server.pem` and `server.key`: what
/// [`Options::tls`] takes, and the CA a node may trust.
pub fn certificates(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf, PathBuf)> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "veim test mail CA");
    let ca = ca.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let mut server = CertificateParams::new(vec!["localhost".to_string()])?;
    server.subject_alt_names.push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    let server = server.signed_by(&key, &ca, &ca_key)?;
    let paths = (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&paths.0, ca.pem())?;
    std::fs::write(&paths.1, server.pem())?;
    std::fs::write(&paths.2, key.serialize_pem())?;
    Ok(paths)
}

/// A running SMTP server and the Maildir it writes to.
#[derive(Debug)]
pub struct SmtpServer {
    child: Option<Child>,
    pub port: u16,
    pub maildir: PathBuf,
    /// What the server wrote on its stderr.
    pub log: PathBuf,
}

/// One mail the server took, parsed.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The whole mail as the server wrote it.
    pub raw: String,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub subject: String,
    /// The text, decoded.
    pub text: String,
}

/// Installs python3-aiosmtpd with apt-get if the system's Python lacks it
/// (once a run).
fn install() -> anyhow::Result<()> {
    static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let present = || Command::new(PYTHON).args(["-c", "import aiosmtpd"]).output().is_ok_and(|o| o.status.success());
    INSTALLED
        .get_or_init(|| {
            if present() {
                return Ok(());
            }
            crate::apt_install(&["python3-aiosmtpd"], "the mail tests")?;
            if present() { Ok(()) } else { Err(format!("python3-aiosmtpd installed, but {PYTHON} cannot import it")) }
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// A port nobody listens on now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl SmtpServer {
    /// A server on a port of its own, writing to a new Maildir in `dir`.
    pub async fn start(dir: &Path) -> anyhow::Result<SmtpServer> {
        SmtpServer::start_on(free_port()?, dir).await
    }

    /// A server on `port`, writing to the Maildir `dir/maildir` (made if
    /// missing, kept if there: a server started again adds to it).
    pub async fn start_on(port: u16, dir: &Path) -> anyhow::Result<SmtpServer> {
        SmtpServer::start_with(port, dir, &Options::default()).await
    }

    /// A server on `port` that requires what `options` says.
    pub async fn start_with(port: u16, dir: &Path, options: &Options) -> anyhow::Result<SmtpServer> {
        install()?;
        let maildir = dir.join("maildir");
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(sub))?;
        }
        let mut command = Command::new(PYTHON);
        command.arg(SERVER).arg("--port").arg(port.to_string()).arg("--maildir").arg(&maildir);
        if let Some((cert, key)) = &options.tls {
            command.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if let Some((user, password)) = &options.login {
            command.args(["--user", user, "--password", password]);
        }
        for address in &options.refuse {
            command.args(["--refuse", address]);
        }
        // Its log to a file, not a pipe nobody reads while it runs (a
        // server that logs much would block on a full pipe).
        let log = dir.join(format!("smtp-{port}.log"));
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start the SMTP server ({PYTHON} {SERVER}): {e}"))?;
        let mut server = SmtpServer { child: Some(child), port, maildir, log };
        server.wait_serving().await?;
        Ok(server)
    }

    /// Waits for the server's greeting (`220`), or fails with what it said.
    async fn wait_serving(&mut self) -> anyhow::Result<()> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let start = Instant::now();
        loop {
            if let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                stream.set_read_timeout(Some(Duration::from_secs(2)))?;
                let mut greeting = String::new();
                if BufReader::new(&stream).read_line(&mut greeting).is_ok() && greeting.starts_with("220") {
                    return Ok(());
                }
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                let said = std::fs::read_to_string(&self.log).unwrap_or_default();
                anyhow::bail!("aiosmtpd on port {} exited ({status}): {}", self.port, said.trim());
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(15),
                "aiosmtpd did not greet on 127.0.0.1:{} within 15 s",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server (its Maildir stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every mail taken so far, in no particular order.
    pub fn mails(&self) -> Vec<ReceivedMail> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else { return Vec::new() };
        entries.flatten().filter_map(|e| std::fs::read(e.path()).ok()).filter_map(|raw| parse(&raw)).collect()
    }

    /// Waits until the server holds `n` mails (fails past `timeout`).
    pub async fn wait_mails(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<ReceivedMail>> {
        crate::wait_for(&format!("{n} mail(s) at the SMTP server"), timeout, || {
            let mails = self.mails();
            (mails.len() >= n).then_some(mails)
        })
        .await
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn parse(raw: &[u8]) -> Option<ReceivedMail> {
    let message = mail_parser::MessageParser::default().parse(raw)?;
    let addresses = |a: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        a.map(|a| a.clone().into_list().iter().filter_map(|x| x.address().map(String::from)).collect())
            .unwrap_or_default()
    };
    Some(ReceivedMail {
        raw: String::from_utf8_lossy(raw).into_owned(),
        from: addresses(message.from()).into_iter().next(),
        to: addresses(message.to()),
        subject: message.subject().unwrap_or_default().to_string(),
        text: message.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
    })
}
