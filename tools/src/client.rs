//! The CLI's side of the admin API: finds a running node from its home folder
//! (`runtime.json` for the address, `admin.token` for the bearer token) and
//! turns every failure into an error that says what to do.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::time::Duration;
use veim_node::api::ApiError;
use veim_node::home::{RUNTIME_FILE, Runtime};

/// How a CLI command failed; the exit code tells scripts which.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the node in {home} is not running (no {file}); start it with `veim node run --home {home}`")]
    NotRunning { home: String, file: String },
    #[error("cannot reach the node's admin API at {addr}: {reason}. Is the node still running?")]
    Unreachable { addr: String, reason: String },
    #[error("{}", render_api_error(.0))]
    Api(ApiError),
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
    /// Stable exit codes: 3 node not reachable, 4 invalid input, 5 refused
    /// by the node, 6 the node is not healthy, 1 anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::NotRunning { .. } | ClientError::Unreachable { .. } => 3,
            ClientError::Unhealthy(_) => 6,
            ClientError::Api(e) if e.error == "invalid" || e.error == "bad-state" => 4,
            ClientError::Api(e) if e.status == 409 || e.status == 404 || e.status == 422 => 5,
            _ => 1,
        }
    }
}

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
        let token = veim_node::home::keys::read_admin_token(home).map_err(|e| ClientError::Local(e.to_string()))?;
        Ok(AdminClient::new(&runtime.admin, token))
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

    fn finish<T: DeserializeOwned>(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, ClientError> {
        let mut response =
            response.map_err(|e| ClientError::Unreachable { addr: self.base.clone(), reason: e.to_string() })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| ClientError::Unreachable { addr: self.base.clone(), reason: e.to_string() })?;
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
        serde_json::from_str(&text).map_err(|e| {
            ClientError::Local(format!(
                "the node's answer is not what this CLI expects ({e}); are the CLI and node the same version?"
            ))
        })
    }
}

/// The home folder: `--home`, else `$VEIM_HOME`, else `./veim-home`.
pub fn resolve_home(home: Option<PathBuf>) -> PathBuf {
    home.or_else(|| std::env::var_os("VEIM_HOME").map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("veim-home"))
}
