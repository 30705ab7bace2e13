//! The browser tests' harness against a real node: a headless Chromium
//! (installed with apt-get when missing) opens the node's admin listener,
//! reads what it serves and takes a screenshot; a browser started in French
//! asks for French; no Chromium or chromedriver process outlives its
//! [`Browser`], closed or dropped.

use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use veim_node::home::Runtime;
use veim_tests::browser::Browser;
use veim_tests::{TestNet, wait_for};

/// The processes whose command line names `profile` (Chromium's, started
/// with `--user-data-dir=<profile>`).
fn processes_of(profile: &Path) -> Vec<String> {
    let profile = profile.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(&profile))
        .collect()
}

/// Waits until no process runs with `profile` (fails after 10 s).
async fn wait_gone(profile: &Path) -> anyhow::Result<()> {
    wait_for("no Chromium process left of the closed browser", Duration::from_secs(10), || {
        processes_of(profile).is_empty().then_some(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chromium_opens_a_node_page_and_takes_a_screenshot() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX"]).await?;
    let home = net.national("MEX").home.clone();
    let runtime: Runtime = serde_json::from_slice(&std::fs::read(home.join(veim_node::home::RUNTIME_FILE))?)?;

    let browser = Browser::start("en").await?;
    let profile = browser.profile();
    assert!(!processes_of(&profile).is_empty(), "Chromium runs with the browser's own profile");
    let url = format!("http://{}/healthz", runtime.admin);
    browser.goto(&url).await?;
    assert_eq!(browser.current_url().await?, url);
    let text = browser.text("body").await?;
    assert_eq!(text.trim(), r#"{"status":"up"}"#, "what /healthz answers, as the browser shows it");
    assert!(browser.page_source().await?.contains(r#"{"status":"up"}"#));

    let shot = browser.screenshot(&net.dir.path().join("healthz.png")).await?;
    let png = std::fs::read(&shot)?;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG file");
    assert!(png.len() > 100, "a screenshot of {} bytes", png.len());

    browser.close().await?;
    wait_gone(&profile).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_browser_started_in_french_asks_for_french() -> anyhow::Result<()> {
    // A tiny HTTP server that records the headers of the page request.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (sent, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    let server = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let sent = sent.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "<!doctype html><title>lang</title><p id=said>heard</p>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = sent.send(String::from_utf8_lossy(&request).into_owned());
            });
        }
    });

    let browser = Browser::start("fr").await?;
    let profile = browser.profile();
    browser.goto(&format!("http://127.0.0.1:{port}/page")).await?;
    assert_eq!(browser.text("#said").await?, "heard");
    let request = loop {
        let request = received.recv().await.ok_or_else(|| anyhow::anyhow!("the server stopped"))?;
        if request.starts_with("GET /page ") {
            break request;
        }
    };
    server.abort();
    let language = request
        .lines()
        .find_map(|l| l.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("accept-language")))
        .map(|(_, value)| value.trim().to_string());
    assert!(language.as_deref().is_some_and(|l| l.starts_with("fr")), "Accept-Language {language:?} in:\n{request}");

    // Dropped without close: its Chromium goes too.
    drop(browser);
    wait_gone(&profile).await
}
