//! The CLI's side of the admin API: finds a running node from its home folder
//! (`runtime.json` for the address, `admin.token` for the bearer token) and
//! turns every failure into an error that says what to do.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::time::Duration;
use veim_node::api::{ApiError, ListQuery, PAGE_MAX, TOTAL_HEADER};
use veim_node::home::{RUNTIME_FILE, Runtime};

/// What a command came to. Each outcome has one exit code, the same for
/// every command, so that a script can tell them apart (README, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: the command did what it was asked.
    Done,
    /// 1: an error in the node or on this machine (a file that cannot be
    /// written, the node's internal error, an answer this CLI cannot read).
    Failed,
    /// 2: the command line is wrong (an unknown command or option, a
    /// missing argument).
    Usage,
    /// 3: the node is not running, or its admin API cannot be connected to.
    Unreachable,
    /// 4: an input file or value has problems; nothing was done.
    Invalid,
    /// 5: the node refused: no consent, unknown or ambiguous id, not
    /// admitted, a conflict with what it holds.
    Refused,
    /// 6: the node runs but is not healthy (`veim status`).
    Unhealthy,
    /// 7: the command is for the other kind of node (a Secretariat command
    /// on a national node, or the other way round).
    WrongRole,
    /// 8: the admin API did not accept the caller (a wrong or missing
    /// token, too many failed logins, a request from a web page).
    Unauthorized,
    /// 9: what was checked does NOT verify (`audit verify`, `disclosure
    /// verify`): it was read, and it is not what it claims to be.
    NotVerified,
}

impl Outcome {
    /// Every outcome, in the order of its code.
    pub const ALL: [Outcome; 10] = [
        Outcome::Done,
        Outcome::Failed,
        Outcome::Usage,
        Outcome::Unreachable,
        Outcome::Invalid,
        Outcome::Refused,
        Outcome::Unhealthy,
        Outcome::WrongRole,
        Outcome::Unauthorized,
        Outcome::NotVerified,
    ];

    pub fn code(self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::Failed => 1,
            Outcome::Usage => 2,
            Outcome::Unreachable => 3,
            Outcome::Invalid => 4,
            Outcome::Refused => 5,
            Outcome::Unhealthy => 6,
            Outcome::WrongRole => 7,
            Outcome::Unauthorized => 8,
            Outcome::NotVerified => 9,
        }
    }

    /// The outcome of an error answer of the admin API: by its HTTP status,
    /// and `wrong-role` apart, which every role-bound handler answers.
    pub fn of_api(e: &ApiError) -> Outcome {
        match (e.status, e.error.as_str()) {
            (_, "wrong-role") => Outcome::WrongRole,
            (401 | 429, _) | (403, "forbidden-origin" | "not-permitted") => Outcome::Unauthorized,
            (400, _) | (422, "invalid") => Outcome::Invalid,
            (403 | 404 | 409 | 422, _) => Outcome::Refused,
            _ => Outcome::Failed,
        }
    }
}

/// How a CLI command failed; [`ClientError::outcome`] gives its exit code.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the node in {home} is not running (no {file}); start it with `veim node run --home {home}`")]
    NotRunning { home: String, file: String },
    /// The connection itself failed: only then may the node be down.
    #[error("cannot connect to the node's admin API at {addr}: {reason}. Is the node still running?")]
    Unreachable { addr: String, reason: String },
    /// The node was reached, but its answer could not be read.
    #[error("the node at {addr} answered, but not usably: {reason}")]
    Answer { addr: String, reason: String },
    #[error("{}", render_api_error(.0))]
    Api(ApiError),
    /// An input this CLI checks itself (a file, a value) has problems.
    #[error("{0}")]
    Invalid(String),
    /// Refused on this machine, before any node is asked (e.g. a file that
    /// would be overwritten, a home folder already made).
    #[error("{0}")]
    Refused(String),
    /// What was checked does not verify; the message says where.
    #[error("{0}")]
    NotVerified(String),
    #[error("{0}")]
    Local(String),
    /// The node runs but cannot do all its work: why, in words.
    #[error("the node is running but not healthy: {0}")]
    Unhealthy(String),
}

fn render_api_error(e: &ApiError) -> String {
    let mut out = e.message.clone();
    for p in &e.problems {
        out.push_str(&format!("\n  - {}: {}", p.field, p.problem));
    }
    out
}

impl ClientError {
    pub fn outcome(&self) -> Outcome {
        match self {
            ClientError::NotRunning { .. } | ClientError::Unreachable { .. } => Outcome::Unreachable,
            ClientError::Unhealthy(_) => Outcome::Unhealthy,
            ClientError::Api(e) => Outcome::of_api(e),
            ClientError::Invalid(_) => Outcome::Invalid,
            ClientError::Refused(_) => Outcome::Refused,
            ClientError::NotVerified(_) => Outcome::NotVerified,
            ClientError::Answer { .. } | ClientError::Local(_) => Outcome::Failed,
        }
    }

    /// The process exit code of this failure.
    pub fn exit_code(&self) -> u8 {
        self.outcome().code()
    }
}

/// The largest answer read from the node. Listings page (`--limit`), so an
/// answer this large is a sign of a page asked too large.
pub const MAX_ANSWER: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct AdminClient {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl AdminClient {
    /// Connects to the node whose home folder is `home`.
    pub fn for_home(home: &Path) -> Result<AdminClient, ClientError> {
        let runtime_path = home.join(RUNTIME_FILE);
        let not_running =
            || ClientError::NotRunning { home: home.display().to_string(), file: runtime_path.display().to_string() };
        let text = std::fs::read_to_string(&runtime_path).map_err(|_| not_running())?;
        let runtime: Runtime = serde_json::from_str(&text).map_err(|_| not_running())?;
        let token = veim_node::home::client_token(home).map_err(ClientError::Local)?;
        Ok(AdminClient::new(&runtime.admin, token))
    }

    /// The same node, with another account's token.
    pub fn with_token(mut self, token: &str) -> AdminClient {
        self.token = token.trim().to_string();
        self
    }

    pub fn new(addr: &str, token: String) -> AdminClient {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        AdminClient { base: format!("http://{addr}"), token, agent }
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .call();
        self.finish(response)
    }

    /// A page of a listing, and how many items pass its filters.
    pub fn get_page<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &ListQuery,
    ) -> Result<(Vec<T>, Option<u64>), ClientError> {
        let response = self
            .agent
            .get(format!("{}{path}", self.base))
            .query_pairs(query.to_pairs())
            .header("Authorization", format!("Bearer {}", self.token))
            .call();
        let total = response
            .as_ref()
            .ok()
            .and_then(|r| r.headers().get(TOTAL_HEADER))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Ok((self.finish(response)?, total))
    }

    /// Every item of a listing, a full page at a time.
    pub fn get_all<T: DeserializeOwned>(&self, path: &str, query: &ListQuery) -> Result<Vec<T>, ClientError> {
        let mut query = ListQuery { limit: Some(PAGE_MAX), ..query.clone() };
        let mut out = Vec::new();
        for page in 1.. {
            query.page = Some(page);
            let (items, total) = self.get_page::<T>(path, &query)?;
            let last = items.len() < PAGE_MAX;
            out.extend(items);
            if last || total.is_some_and(|t| out.len() as u64 >= t) {
                break;
            }
        }
        Ok(out)
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ClientError> {
        let response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .send_json(body);
        self.finish(response)
    }

    /// Posts `body` and returns the answer's bytes as they are, with the
    /// header `header` if the node sent it (a backup, which is not JSON).
    pub fn post_for_bytes<B: Serialize>(
        &self,
        path: &str,
        body: &B,
        header: &str,
    ) -> Result<(Vec<u8>, Option<String>), ClientError> {
        let mut response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .send_json(body)
            .map_err(|e| ClientError::Unreachable { addr: self.base.clone(), reason: e.to_string() })?;
        if response.status().as_u16() >= 400 {
            return self.finish::<()>(Ok(response)).map(|()| (Vec::new(), None));
        }
        let value = response.headers().get(header).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(|e| ClientError::Unreachable { addr: self.base.clone(), reason: e.to_string() })?;
        Ok((bytes, value))
    }

    /// `GET path`, its answer as text (a page the node renders, not JSON).
    pub fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .call();
        self.finish_text(response)
    }

    fn finish<T: DeserializeOwned>(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, ClientError> {
        let text = self.finish_text(response)?;
        serde_json::from_str(&text).map_err(|e| ClientError::Answer {
            addr: self.base.clone(),
            reason: format!("its answer is not what this CLI expects ({e}); are the CLI and node the same version?"),
        })
    }

    /// The answer's text, or the node's error.
    fn finish_text(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, ClientError> {
        let mut response = response.map_err(|e| self.transport(e))?;
        let status = response.status().as_u16();
        let text = response.body_mut().with_config().limit(MAX_ANSWER).read_to_string().map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(limit) => ClientError::Answer {
                addr: self.base.clone(),
                reason: format!("its answer is larger than {limit} bytes; ask for less (listings take --limit)"),
            },
            other => self.transport(other),
        })?;
        if status >= 400 {
            let mut error: ApiError = serde_json::from_str(&text).unwrap_or(ApiError {
                status,
                error: "http".into(),
                message: format!("the node answered HTTP {status}: {text}"),
                problems: Vec::new(),
            });
            error.status = status;
            return Err(ClientError::Api(error));
        }
        Ok(text)
    }

    /// A failure of the HTTP call: [`ClientError::Unreachable`] only when the
    /// connection could not be made or was cut, which a stopped node causes;
    /// anything else happened with a node that answered.
    fn transport(&self, e: ureq::Error) -> ClientError {
        use std::io::ErrorKind;
        let unreachable = match &e {
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
            ureq::Error::Timeout(t) => matches!(t, ureq::Timeout::Connect | ureq::Timeout::Resolve),
            ureq::Error::Io(io) => matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::NotConnected
                    | ErrorKind::AddrNotAvailable
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof
            ),
            _ => false,
        };
        if unreachable {
            ClientError::Unreachable { addr: self.base.clone(), reason: e.to_string() }
        } else {
            ClientError::Answer { addr: self.base.clone(), reason: e.to_string() }
        }
    }
}

/// The home folder: `--home`, else `$VEIM_HOME`, else `./veim-home`.
pub fn resolve_home(home: Option<PathBuf>) -> PathBuf {
    home.or_else(|| std::env::var_os("VEIM_HOME").map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("veim-home"))
}
