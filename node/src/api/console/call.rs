//! The console's calls to the admin API, in process: the same router, the
//! same guard (roles, audit entries naming the official, durability before
//! the answer), the same validation and the same errors as the CLI gets,
//! for the official of the session instead of a token.

use crate::api::{ApiError, ConsoleCaller, TOTAL_HEADER};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::ServiceExt;
use veim_protocol::audit::AccountName;

/// The largest answer the console reads from the API (a disclosure package,
/// an audit export).
const MAX_ANSWER: usize = 256 << 20;

/// The admin API, as the console calls it.
#[derive(Debug, Clone)]
pub struct Api {
    router: Router,
}

/// An answer of the API that went well: its headers and body.
#[derive(Debug)]
pub struct Answer {
    pub headers: HeaderMap,
    pub body: Bytes,
}

fn internal(message: String) -> ApiError {
    ApiError { status: 500, error: "internal".into(), message, problems: Vec::new() }
}

impl Api {
    pub fn new(router: Router) -> Api {
        Api { router }
    }

    /// Calls `method path` as `who`, with a body of `content_type`.
    pub async fn call(
        &self,
        who: AccountName,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Answer, ApiError> {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        let mut request = request.body(Body::from(body)).map_err(|e| internal(format!("bad call {path}: {e}")))?;
        request.extensions_mut().insert(ConsoleCaller(who));
        // The API's handlers read the store without yielding (a listing
        // reads every record it filters): run for a page, they go to a
        // thread of their own, so that officials reading pages never hold
        // the runtime's workers, and message delivery with them.
        let (router, runtime) = (self.router.clone(), tokio::runtime::Handle::current());
        let response = match tokio::task::spawn_blocking(move || runtime.block_on(router.oneshot(request))).await {
            Ok(Ok(r)) => r,
            Ok(Err(never)) => match never {},
            Err(e) => return Err(internal(format!("the call {path} stopped: {e}"))),
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), MAX_ANSWER)
            .await
            .map_err(|e| internal(format!("cannot read the answer of {path}: {e}")))?;
        if status.is_success() {
            return Ok(Answer { headers, body });
        }
        let mut error: ApiError = serde_json::from_slice(&body).unwrap_or_else(|_| ApiError {
            status: status.as_u16(),
            error: status.canonical_reason().unwrap_or("error").to_ascii_lowercase(),
            message: String::from_utf8_lossy(&body).into_owned(),
            problems: Vec::new(),
        });
        error.status = status.as_u16();
        Err(error)
    }

    /// `GET path`, its JSON answer.
    pub async fn get<T: DeserializeOwned>(&self, who: AccountName, path: &str) -> Result<T, ApiError> {
        let answer = self.call(who, Method::GET, path, None, Vec::new()).await?;
        serde_json::from_slice(&answer.body).map_err(|e| internal(format!("the answer of {path} does not read: {e}")))
    }

    /// `GET path` of a listing: the number of items that pass its filters,
    /// and the page asked for.
    pub async fn list<T: DeserializeOwned>(&self, who: AccountName, path: &str) -> Result<(usize, Vec<T>), ApiError> {
        let (total, items): (Option<usize>, Vec<T>) = self.counted(who, path).await?;
        Ok((total.unwrap_or(items.len()), items))
    }

    /// `GET path`, its JSON answer and the number of items that pass its
    /// filters (the [`TOTAL_HEADER`] the API answers with).
    pub async fn counted<T: DeserializeOwned>(
        &self,
        who: AccountName,
        path: &str,
    ) -> Result<(Option<usize>, T), ApiError> {
        let answer = self.call(who, Method::GET, path, None, Vec::new()).await?;
        let value: T = serde_json::from_slice(&answer.body)
            .map_err(|e| internal(format!("the answer of {path} does not read: {e}")))?;
        let total = answer.headers.get(TOTAL_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        Ok((total, value))
    }

    /// `POST path` with a JSON body, its JSON answer.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        who: AccountName,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        let body = serde_json::to_vec(body).map_err(|e| internal(format!("cannot write the call {path}: {e}")))?;
        let answer = self.call(who, Method::POST, path, Some("application/json"), body).await?;
        serde_json::from_slice(&answer.body).map_err(|e| internal(format!("the answer of {path} does not read: {e}")))
    }
}

/// A status code of an error, for the page that shows it.
pub fn status_of(error: &ApiError) -> StatusCode {
    StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
