//! A plain HTTP client of a node's web console, for tests of its pages
//! without a browser: it keeps the cookies the console sets, follows no
//! redirect by itself (tests see where the console sends them), and sends
//! forms with the CSRF token of the page they came from.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use veim_node::accounts::{NewAccount, WithToken};
use veim_node::home::Runtime;

/// A page the console answered.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    /// Where a redirect sends the browser.
    pub location: Option<String>,
    pub html: String,
    pub headers: Vec<(String, String)>,
}

impl Page {
    /// The value of the first `<input name="NAME" value="...">` of the page.
    pub fn input(&self, name: &str) -> Option<String> {
        let needle = format!("name=\"{name}\" value=\"");
        let at = self.html.find(&needle)? + needle.len();
        let end = self.html[at..].find('"')?;
        Some(unescape(&self.html[at..at + end]))
    }

    /// The form token of the page's forms.
    pub fn csrf(&self) -> String {
        self.input("csrf").unwrap_or_default()
    }

    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The page's text without its tags, entities decoded, spaces collapsed.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in self.html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    out.push(' ');
                }
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        unescape(&out).split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// `s` with the entities askama writes decoded.
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// The address of the console of the running node at `home`
/// (`http://127.0.0.1:PORT`).
pub fn address_of(home: &Path) -> anyhow::Result<String> {
    let runtime: Runtime = serde_json::from_slice(&std::fs::read(home.join(veim_node::home::RUNTIME_FILE))?)?;
    Ok(format!("http://{}", runtime.admin))
}

/// A file the console answered.
#[derive(Debug, Clone)]
pub struct Download {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub bytes: Vec<u8>,
}

/// A console client: one browser's cookies.
#[derive(Debug)]
pub struct ConsoleClient {
    base: String,
    agent: ureq::Agent,
    cookies: Mutex<BTreeMap<String, String>>,
    language: String,
}

impl ConsoleClient {
    /// A client of the console of the node at `home`, asking for `language`.
    pub fn of(home: &Path, language: &str) -> anyhow::Result<ConsoleClient> {
        let runtime: Runtime = serde_json::from_slice(&std::fs::read(home.join(veim_node::home::RUNTIME_FILE))?)?;
        Ok(ConsoleClient::new(&runtime.admin.to_string(), language))
    }

    pub fn new(admin: &str, language: &str) -> ConsoleClient {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        ConsoleClient { base: format!("http://{admin}"), agent, cookies: Mutex::default(), language: language.into() }
    }

    /// The console's address (`http://127.0.0.1:PORT`).
    pub fn base(&self) -> &str {
        &self.base
    }

    fn cookie_header(&self) -> String {
        let cookies = self.cookies.lock().expect("cookies");
        cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn finish(&self, response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> anyhow::Result<Page> {
        let mut response = response?;
        let mut headers = Vec::new();
        for (k, v) in response.headers() {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            if k.as_str() == "set-cookie"
                && let Some((pair, attributes)) = value.split_once(';').or(Some((value.as_str(), "")))
                && let Some((name, v)) = pair.split_once('=')
            {
                let mut cookies = self.cookies.lock().expect("cookies");
                if v.is_empty() || attributes.contains("Max-Age=0") {
                    cookies.remove(name.trim());
                } else {
                    cookies.insert(name.trim().to_string(), v.trim().to_string());
                }
            }
            headers.push((k.as_str().to_string(), value));
        }
        let status = response.status().as_u16();
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
        let html = response.body_mut().read_to_string().unwrap_or_default();
        Ok(Page { status, location, html, headers })
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> anyhow::Result<Page> {
        let response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .header("Accept-Language", &self.language)
            .call();
        self.finish(response)
    }

    /// `POST path` with `fields`, form-encoded, as a page of the console
    /// sends it (its origin); no CSRF token is added.
    pub fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<Page> {
        let body = fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        self.send(path, "application/x-www-form-urlencoded", body.as_bytes())
    }

    /// `POST path` with `body` of `content_type`, from a page of the console.
    fn send(&self, path: &str, content_type: &str, body: &[u8]) -> anyhow::Result<Page> {
        let response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .header("Accept-Language", &self.language)
            .header("Origin", &self.base)
            .header("Content-Type", content_type)
            .send(body);
        self.finish(response)
    }

    /// `POST path` with `fields` and the CSRF token of the page `from`.
    pub fn post(&self, from: &Page, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<Page> {
        let csrf = from.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all)
    }

    /// `POST path` as `multipart/form-data`, as a page's upload form
    /// sends it: the CSRF token of the page `from` first, then `fields`,
    /// then the file `(field, file name, bytes)`.
    pub fn post_file(
        &self,
        from: &Page,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &[u8]),
    ) -> anyhow::Result<Page> {
        let boundary = "----veim-test-boundary-7d93f1";
        let mut body = Vec::new();
        let csrf = from.csrf();
        for (name, value) in std::iter::once(("csrf", csrf.as_str())).chain(fields.iter().copied()) {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        let (field, file_name, bytes) = file;
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.send(path, &format!("multipart/form-data; boundary={boundary}"), &body)
    }

    /// `GET path` of a file.
    pub fn download(&self, path: &str) -> anyhow::Result<Download> {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .header("Accept-Language", &self.language)
            .call()?;
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let status = response.status().as_u16();
        let bytes = response.body_mut().with_config().limit(64 << 20).read_to_vec()?;
        Ok(Download { status, headers, bytes })
    }

    /// Logs in as `name` with `password` (and `code`, if given): the page
    /// the console answers (a redirect to the dashboard when it worked).
    pub fn login(&self, name: &str, password: &str, code: Option<&str>) -> anyhow::Result<Page> {
        let form = self.get("/console/login")?;
        anyhow::ensure!(form.status == 200, "the login page answered {}: {}", form.status, form.text());
        self.post(&form, "/console/login", &[("name", name), ("password", password), ("code", code.unwrap_or(""))])
    }

    /// Follows a redirect's `Location` (fails if the page is not one).
    pub fn follow(&self, page: &Page) -> anyhow::Result<Page> {
        let Some(to) = &page.location else { anyhow::bail!("not a redirect ({}): {}", page.status, page.text()) };
        self.get(to)
    }

    /// Forgets the session's cookies (as a browser closed would).
    pub fn forget(&self) {
        self.cookies.lock().expect("cookies").clear();
    }
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Makes an account with a console password through the admin API of the
/// node at `admin` (a client holding an administrator's token).
pub fn add_official(
    admin: &veim_tools::AdminClient,
    name: &str,
    roles: &[&str],
    language: &str,
    password: &str,
) -> anyhow::Result<WithToken> {
    let new = NewAccount {
        name: name.into(),
        full_name: String::new(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        language: Some(language.into()),
        password: Some(password.into()),
    };
    Ok(admin.post("/v1/users", &new)?)
}
