//! Attachments on an exchange's thread: the files its messages carry (with
//! how much of each this node holds), a file uploaded and sent in the
//! exchange, and a file downloaded.
//!
//! The API stages a file from a path on the node's machine and saves one
//! to a path, as the CLI asks it to: the console writes an upload to a
//! private temporary folder of the node's home and has the API stage it
//! from there (`POST /v1/attachments`, then `POST /v1/exchanges/{id}/attach`),
//! and for a download has the API save the file in such a folder
//! (`POST /v1/attachments/{id}/save`, which checks its SHA-256 and records
//! that it was shown) and streams it to the browser. Each folder is removed
//! when the request ends.

use super::exchanges::encode;
use super::*;
use crate::api::{AttachRequest, ExchangeView, MessageView, SaveRequest, StageRequest};
use crate::attachments::AttachmentView;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path};
use axum::routing::post;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;
use veim_protocol::attachment::MAX_ATTACHMENT;

/// The folder of the node's home under which uploads and downloads pass.
const FOLDER: &str = "console-files";
/// Room in an upload's body for the form around the file.
const FORM_ROOM: u64 = 64 * 1024;

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route(
            "/console/exchanges/{id}/attachments",
            post(upload).layer(DefaultBodyLimit::max((MAX_ATTACHMENT + FORM_ROOM) as usize)),
        )
        .route("/console/attachments/{id}/download", get(download))
}

/// A file of the thread.
pub(crate) struct Listed {
    pub id: String,
    pub name: String,
    pub size: String,
    pub from: String,
    /// Where the file is: held whole, being fetched, or given up.
    pub state: String,
    pub complete: bool,
}

/// The files the thread's messages carry, with this node's copy of each.
pub(super) async fn listed(official: &Official, view: &ExchangeView) -> Vec<Listed> {
    let tr = official.tr;
    let held: Vec<AttachmentView> = official.api().get(official.name(), "/v1/attachments").await.unwrap_or_default();
    let mut out = Vec::new();
    for m in &view.messages {
        let Some(veim_protocol::Body::Attachments(a)) = &m.body else { continue };
        for file in &a.files {
            let here = held.iter().find(|h| h.id == file.id);
            let (state, complete) = match here {
                Some(h) if h.complete => (tr.t("attachment-held"), true),
                Some(h) if h.error.is_some() => {
                    (tr.t1("attachment-failed", "reason", &h.error.clone().unwrap_or_default()), false)
                }
                Some(h) => {
                    (tr.t1("attachment-fetching", "share", &format!("{}/{}", h.chunks_held, h.chunks.max(1))), false)
                }
                None => (tr.t("attachment-not-held"), false),
            };
            out.push(Listed {
                id: file.id.to_hex(),
                name: file.name.clone(),
                size: tr.count("attachment-bytes", usize::try_from(file.size).unwrap_or(usize::MAX)),
                from: m.sender.to_string(),
                state,
                complete,
            });
        }
    }
    out
}

/// What the upload form says of the largest file.
pub(super) fn limit(tr: Tr) -> String {
    tr.t1("attachment-limit", "limit", &tr.number(MAX_ATTACHMENT))
}

/// A private temporary folder under the node's home, removed when
/// dropped; or what the node could not do, as a page.
fn scratch(official: &Official) -> Result<tempfile::TempDir, Box<Response>> {
    let base = official.node().home.join(FOLDER);
    std::fs::create_dir_all(&base)
        .and_then(|_| tempfile::Builder::new().prefix(".").tempdir_in(&base))
        .map_err(|e| Box::new(no_room(official, &format!("{}: {e}", base.display()))))
}

/// The page for a file the node could not write or read back.
fn no_room(official: &Official, reason: &dyn std::fmt::Display) -> Response {
    let tr = official.tr;
    let text = tr.t1("attachment-no-room", "reason", reason);
    official.problem(StatusCode::INTERNAL_SERVER_ERROR, tr.t("attachment-heading"), text, Vec::new())
}

/// A file name as the browser gives it, made safe to be a name in a
/// folder: its last part, without control characters, at most 200 bytes.
fn safe_name(given: &str) -> Option<String> {
    let last = given.rsplit(['/', '\\']).next().unwrap_or("");
    let mut name: String = last.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_string();
    while name.len() > 200 {
        name.pop();
    }
    Some(name).filter(|n| !n.is_empty() && n != "." && n != "..")
}

async fn upload(
    State(console): State<Console>,
    official: Official,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Response {
    let tr = official.tr;
    let thread = format!("/console/exchanges/{}", encode(&id));
    // The form's token comes first: nothing else is read without it.
    let token = match multipart.next_field().await {
        Ok(Some(field)) if field.name() == Some("csrf") => field.text().await.unwrap_or_default(),
        _ => String::new(),
    };
    if !same_token(&token, &official.csrf) {
        return refuse_form(&console, &official, &format!("{thread}/attachments")).await;
    }
    let bad = |text: String| official.problem(StatusCode::BAD_REQUEST, tr.t("attachment-heading"), text, Vec::new());
    let folder = match scratch(&official) {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let mut text = String::new();
    let mut file: Option<PathBuf> = None;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return bad(tr.t1("attachment-unreadable", "reason", &e.body_text())),
        };
        match field.name() {
            Some("text") => text = field.text().await.unwrap_or_default(),
            Some("file") => {
                let Some(name) = field.file_name().and_then(safe_name) else { continue };
                let path = folder.path().join(&name);
                let mut out = match tokio::fs::File::create(&path).await {
                    Ok(f) => f,
                    Err(e) => return bad(tr.t1("attachment-no-room", "reason", &e)),
                };
                let mut size = 0u64;
                loop {
                    let chunk = match field.chunk().await {
                        Ok(Some(chunk)) => chunk,
                        Ok(None) => break,
                        Err(e) => return bad(tr.t1("attachment-unreadable", "reason", &e.body_text())),
                    };
                    size += chunk.len() as u64;
                    if size > MAX_ATTACHMENT {
                        return official.problem(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            tr.t("attachment-heading"),
                            limit(tr),
                            Vec::new(),
                        );
                    }
                    if let Err(e) = out.write_all(&chunk).await {
                        return bad(tr.t1("attachment-no-room", "reason", &e));
                    }
                }
                if let Err(e) = out.flush().await {
                    return bad(tr.t1("attachment-no-room", "reason", &e));
                }
                file = Some(path);
            }
            _ => {}
        }
    }
    let Some(path) = file else {
        official.flash(false, tr.t("attachment-none"));
        return Redirect::to(&thread).into_response();
    };
    let stage = StageRequest { path: path.display().to_string() };
    let staged: AttachmentView = match official.api().post(official.name(), "/v1/attachments", &stage).await {
        Ok(v) => v,
        Err(e) => return official.failed(&e),
    };
    drop(folder);
    let attach = AttachRequest { text, attachments: vec![staged.id.to_hex()], handling: None };
    let path = format!("/v1/exchanges/{}/attach", encode(&id));
    match official.api().post::<_, MessageView>(official.name(), &path, &attach).await {
        Ok(_) => {
            official.flash(true, tr.t1("attachment-sent", "name", &staged.name));
            Redirect::to(&thread).into_response()
        }
        Err(e) => official.failed(&e),
    }
}

/// `Content-Disposition` for a file named `name`: an ASCII name for old
/// clients, and the name itself (RFC 6266, RFC 8187).
fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' { c } else { '_' })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

async fn download(official: Official, Path(id): Path<String>) -> Response {
    let folder = match scratch(&official) {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let out = folder.path().join("file");
    let save = SaveRequest { out: out.display().to_string(), force: false };
    let path = format!("/v1/attachments/{}/save", encode(&id));
    let view: AttachmentView = match official.api().post(official.name(), &path, &save).await {
        Ok(v) => v,
        Err(e) => return official.failed(&e),
    };
    let file = match tokio::fs::File::open(&out).await {
        Ok(f) => f,
        Err(e) => return no_room(&official, &e),
    };
    // The open file stays readable once its folder is gone.
    let stream = futures::stream::unfold((file, folder), |(mut file, folder)| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), (file, folder)))
            }
            Err(e) => Some((Err(e), (file, folder))),
        }
    });
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, disposition(&view.name)),
            (header::CONTENT_LENGTH, view.size.to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_safe_and_given_back_whole() {
        assert_eq!(safe_name("C:\\Users\\ana\\report.pdf").as_deref(), Some("report.pdf"));
        assert_eq!(safe_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(safe_name("a\u{7}b.txt").as_deref(), Some("ab.txt"));
        assert_eq!(safe_name(".."), None);
        assert_eq!(safe_name(""), None);
        assert_eq!(
            disposition("Informe año \"1\".pdf"),
            "attachment; filename=\"Informe a_o _1_.pdf\"; filename*=UTF-8''Informe%20a%C3%B1o%20%221%22.pdf"
        );
    }
}
