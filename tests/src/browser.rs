//! A real headless Chromium on this machine for the console's browser tests,
//! driven through chromedriver (WebDriver) with the `fantoccini` crate.
//! The first browser of a run installs Debian's `chromium` and
//! `chromium-driver` with apt-get when `chromium` or `chromedriver` is
//! missing (as the mail tests install aiosmtpd), so the tests need nothing
//! installed by hand on a fresh Debian machine; a browser that cannot be
//! installed or started fails the test, it is never skipped.
//!
//! Each [`Browser`] is its own chromedriver on a free port of 127.0.0.1 and
//! its own Chromium: headless, without the sandbox (the tests run as root),
//! a window of 1280x900, a fresh profile in a temporary folder, and the
//! language the test gives as the browser's `Accept-Language` (what a
//! console reads to choose the language of the login page).
//! [`Browser::close`] ends the WebDriver session (chromedriver quits
//! Chromium) and stops chromedriver; dropping a browser without closing it
//! kills chromedriver's process group, Chromium's processes with it.

use crate::smtp::free_port;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub use fantoccini::cookies::Cookie;
pub use fantoccini::elements::Element;

/// Where Debian's `chromium` package puts the browser...
const CHROMIUM: &str = "/usr/bin/chromium";
/// ...and where `chromium-driver` puts chromedriver.
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long [`Browser::find`] (and so `fill`, `click`, `text`) waits for
/// an element to appear.
const FIND_WAIT: Duration = Duration::from_secs(5);

/// How long chromedriver has to answer on its port.
const DRIVER_WAIT: Duration = Duration::from_secs(20);

/// A headless Chromium and the chromedriver that drives it.
#[derive(Debug)]
pub struct Browser {
    client: Option<Client>,
    driver: Option<Child>,
    /// The profile, and chromedriver's log (`chromedriver.log`).
    dir: TempDir,
}

/// Installs chromium and chromium-driver with apt-get when `chromium` or
/// `chromedriver` is missing (once a run).
fn install() -> anyhow::Result<()> {
    static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let present = || Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    INSTALLED
        .get_or_init(|| {
            if present() {
                return Ok(());
            }
            crate::apt_install(&["chromium", "chromium-driver"], "the browser tests")?;
            if present() {
                Ok(())
            } else {
                Err(format!("chromium and chromium-driver installed, but {CHROMIUM} or {CHROMEDRIVER} is not there"))
            }
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Whether chromedriver on `port` answers `GET /status` ready.
fn driver_ready(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    // What arrived, even if chromedriver keeps the connection open.
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).replace(' ', "").contains("\"ready\":true")
}

/// What chromedriver wrote to its log, the end of it (for an error).
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

impl Browser {
    /// A new headless Chromium whose `Accept-Language` is `language` (as
    /// "fr", or "es-MX,es"), installed first if missing.
    pub async fn start(language: &str) -> anyhow::Result<Browser> {
        install()?;
        let dir = tempfile::Builder::new().prefix("veim-browser-").tempdir()?;
        let log = dir.path().join("chromedriver.log");
        let port = free_port()?;
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            // Its own process group, Chromium's processes in it: what Drop kills.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {CHROMEDRIVER}: {e}"))?;
        let mut browser = Browser { client: None, driver: Some(driver), dir };
        browser.wait_driver(port, &log).await?;

        let profile = browser.profile();
        let capabilities: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--no-first-run",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                    format!("--lang={language}"),
                ],
                "prefs": { "intl.accept_languages": language },
            },
        }))?;
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .map_err(|e| {
                anyhow::anyhow!("chromedriver could not start {CHROMIUM}: {e}; its log:\n{}", log_tail(&log))
            })?;
        client
            .update_timeouts(TimeoutConfiguration::new(
                Some(Duration::from_secs(30)),
                Some(Duration::from_secs(30)),
                Some(Duration::ZERO),
            ))
            .await?;
        browser.client = Some(client);
        Ok(browser)
    }

    /// Waits for chromedriver to answer on `port`, or fails with its log.
    async fn wait_driver(&mut self, port: u16, log: &Path) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if driver_ready(port) {
                return Ok(());
            }
            if let Some(child) = self.driver.as_mut()
                && let Some(status) = child.try_wait()?
            {
                anyhow::bail!("{CHROMEDRIVER} on port {port} exited ({status}): {}", log_tail(log));
            }
            anyhow::ensure!(
                start.elapsed() < DRIVER_WAIT,
                "{CHROMEDRIVER} did not answer on 127.0.0.1:{port} within {} s: {}",
                DRIVER_WAIT.as_secs(),
                log_tail(log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The browser's profile folder (on Chromium's command line as
    /// `--user-data-dir`), removed when the browser is dropped.
    pub fn profile(&self) -> PathBuf {
        self.dir.path().join("profile")
    }

    fn client(&self) -> anyhow::Result<&Client> {
        self.client.as_ref().ok_or_else(|| anyhow::anyhow!("the browser is closed"))
    }

    /// Opens `url` and waits for its page to load.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client()?.goto(url).await.map_err(|e| anyhow::anyhow!("cannot open {url}: {e}"))
    }

    /// The first element that matches the CSS selector `css`, waiting up
    /// to 5 s for it to appear.
    pub async fn find(&self, css: &str) -> anyhow::Result<Element> {
        let client = self.client()?;
        match client.wait().at_most(FIND_WAIT).for_element(Locator::Css(css)).await {
            Ok(element) => Ok(element),
            Err(e) => {
                let url = client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
                Err(anyhow::anyhow!("no element `{css}` on {url} within {} s: {e}", FIND_WAIT.as_secs()))
            }
        }
    }

    /// Types `text` into the field `css` (emptied first).
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let field = self.find(css).await?;
        field.clear().await.map_err(|e| anyhow::anyhow!("cannot empty `{css}`: {e}"))?;
        field.send_keys(text).await.map_err(|e| anyhow::anyhow!("cannot type into `{css}`: {e}"))
    }

    /// Clicks the element `css`, a link or a form's button, and waits for
    /// the page it leads to to load (fails if it leads nowhere in 5 s).
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let client = self.client()?;
        let page = client.find(Locator::Css("html")).await?;
        self.find(css).await?.click().await.map_err(|e| anyhow::anyhow!("cannot click `{css}`: {e}"))?;
        // The click may return before the next page replaced this one: wait
        // until this page's root is gone and the next one has loaded.
        let start = Instant::now();
        while page.tag_name().await.is_ok() {
            anyhow::ensure!(start.elapsed() < FIND_WAIT, "clicking `{css}` did not lead to another page");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        while client.execute("return document.readyState", Vec::new()).await?.as_str() != Some("complete") {
            anyhow::ensure!(start.elapsed() < FIND_WAIT, "the page after clicking `{css}` did not finish loading");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(())
    }

    /// Clicks the element `css` where the click leads to no other page (a
    /// checkbox, a button whose answer is a file to save).
    pub async fn press(&self, css: &str) -> anyhow::Result<()> {
        self.find(css).await?.click().await.map_err(|e| anyhow::anyhow!("cannot click `{css}`: {e}"))
    }

    /// Chooses the option of value `value` in the select box `css`.
    pub async fn select(&self, css: &str, value: &str) -> anyhow::Result<()> {
        self.find(css)
            .await?
            .select_by_value(value)
            .await
            .map_err(|e| anyhow::anyhow!("cannot choose {value:?} in `{css}`: {e}"))
    }

    /// The text of the element `css`, as rendered (what a person reads).
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        self.find(css).await?.text().await.map_err(|e| anyhow::anyhow!("cannot read the text of `{css}`: {e}"))
    }

    /// Runs `script` in the page open now, through WebDriver (the page's
    /// Content-Security-Policy does not apply to it): what a test does to a
    /// page that a person could not, such as taking a field out of a form.
    pub async fn execute(&self, script: &str) -> anyhow::Result<serde_json::Value> {
        self.client()?.execute(script, Vec::new()).await.map_err(|e| anyhow::anyhow!("cannot run a script: {e}"))
    }

    /// The computed value of the CSS property `property` of the element `css`.
    pub async fn style_of(&self, css: &str, property: &str) -> anyhow::Result<String> {
        self.find(css)
            .await?
            .css_value(property)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read {property} of `{css}`: {e}"))
    }

    /// The page's HTML as the browser holds it now.
    pub async fn page_source(&self) -> anyhow::Result<String> {
        Ok(self.client()?.source().await?)
    }

    /// Waits up to 5 s for the page open to be `url` (a form's answer may
    /// redirect after its click returned), and fails naming the one open.
    pub async fn wait_url(&self, url: &str) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let now = self.current_url().await?;
            if now == url {
                return Ok(());
            }
            anyhow::ensure!(start.elapsed() < FIND_WAIT, "the page open is {now}, not {url}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The URL of the page open now (after any redirect).
    pub async fn current_url(&self) -> anyhow::Result<String> {
        Ok(self.client()?.current_url().await?.to_string())
    }

    /// The cookies the browser holds for the page open now.
    pub async fn cookies(&self) -> anyhow::Result<Vec<Cookie<'static>>> {
        Ok(self.client()?.get_all_cookies().await?)
    }

    /// Forgets the cookie `name` of the page open now.
    pub async fn delete_cookie(&self, name: &str) -> anyhow::Result<()> {
        self.client()?.delete_cookie(name).await.map_err(|e| anyhow::anyhow!("cannot delete the cookie {name}: {e}"))
    }

    /// Writes a screenshot of the window to `path` (PNG).
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<PathBuf> {
        let png = self.client()?.screenshot().await?;
        std::fs::write(path, png)
            .map_err(|e| anyhow::anyhow!("cannot write the screenshot {}: {e}", path.display()))?;
        Ok(path.to_path_buf())
    }

    /// Ends the session (chromedriver quits Chromium and waits for it) and
    /// stops chromedriver.
    pub async fn close(mut self) -> anyhow::Result<()> {
        let ended = match self.client.take() {
            Some(client) => client.close().await.map_err(|e| anyhow::anyhow!("cannot end the browser's session: {e}")),
            None => Ok(()),
        };
        self.stop();
        ended
    }

    /// Kills chromedriver's process group: chromedriver, and Chromium's
    /// processes if the session did not end them.
    fn stop(&mut self) {
        self.client = None;
        if let Some(mut driver) = self.driver.take() {
            let group = rustix::process::Pid::from_child(&driver);
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            let _ = driver.kill();
            let _ = driver.wait();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.stop();
    }
}
