//! `--status ADDR`: the coordinator's status page. A small synchronous HTTP server
//! (tiny_http, two threads) serving `/` — one self-contained page (no external script,
//! style or font) that polls — and `/status.json`, the latest [`JobStatus`] the event loop
//! published ([`Board`]): whole, or with `?since=SEQ` only the tasks changed after status
//! number SEQ (what the page asks for once it has the rest). The server only reads the board: a slow or hostile client costs
//! the job nothing but these threads' time.
//!
//! On a loopback address anyone on the machine may look. Any other address needs the
//! cluster's secret: the page and the document then ask for a token derived from it
//! ([`Secret::token`]; `?token=` in the URL, which the page passes on, or an
//! `Authorization: Bearer` header), printed with the page's address when the job starts.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tiny_http::{Header, Method, Request, Response, Server};

use super::status::{Board, JobStatus};
use crate::net::auth::{same_bytes, Secret};

/// The page, whole.
const PAGE: &str = include_str!("page.html");
/// Threads answering requests.
const THREADS: usize = 2;

/// A running status server.
pub struct StatusServer {
    pub addr: SocketAddr,
    /// The token asked for (off loopback).
    pub token: Option<String>,
}

impl StatusServer {
    /// The page's address, with its token if one is asked for.
    pub fn url(&self) -> String {
        match &self.token {
            Some(token) => format!("http://{}/?token={token}", self.addr),
            None => format!("http://{}/", self.addr),
        }
    }
}

/// Why the status server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0} is not a loopback address: a status page there needs the cluster's secret (--secret-file)")]
    NeedsSecret(SocketAddr),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, String),
}

/// Starts serving `board` on `addr` (port 0: any free port), on threads that live as long
/// as the process. Off loopback, `secret` is required.
pub fn start(
    addr: SocketAddr,
    board: Arc<Board>,
    secret: Option<&Secret>,
) -> Result<StatusServer, StartError> {
    let token = match (addr.ip().is_loopback(), secret) {
        (true, _) => None,
        (false, Some(secret)) => Some(secret.token("status page")),
        (false, None) => return Err(StartError::NeedsSecret(addr)),
    };
    let server = Server::http(addr).map_err(|e| StartError::Listen(addr, e.to_string()))?;
    let bound = server.server_addr().to_ip().unwrap_or(addr);
    let server = Arc::new(server);
    let cache = Arc::new(Mutex::new(None));
    for _ in 0..THREADS {
        let (server, board, token, cache) = (
            Arc::clone(&server),
            Arc::clone(&board),
            token.clone(),
            Arc::clone(&cache),
        );
        let spawned = std::thread::Builder::new()
            .name("wetmr-status".into())
            .spawn(move || {
                for request in server.incoming_requests() {
                    let _ = answer(request, &board, token.as_deref(), &cache);
                }
            });
        if let Err(e) = spawned {
            return Err(StartError::Listen(addr, e.to_string()));
        }
    }
    Ok(StatusServer { addr: bound, token })
}

/// The JSON of the latest status, kept while it is the latest.
type Cache = Mutex<Option<(Arc<JobStatus>, Arc<String>)>>;

fn answer(request: Request, board: &Board, token: Option<&str>, cache: &Cache) -> io::Result<()> {
    if *request.method() != Method::Get && *request.method() != Method::Head {
        return request.respond(text(405, "only GET here\n"));
    }
    let (path, query) = request.url().split_once('?').unwrap_or((request.url(), ""));
    if let Some(token) = token {
        if !authorized(&request, query, token) {
            return request.respond(text(
                401,
                "this status page needs its token: open the address printed when the job \
                 started (…/?token=…)\n",
            ));
        }
    }
    match path {
        "/" | "/index.html" => {
            let page = with_headers(
                Response::from_string(PAGE),
                &[
                    ("Content-Type", "text/html; charset=utf-8"),
                    (
                        "Content-Security-Policy",
                        "default-src 'none'; script-src 'unsafe-inline'; \
                         style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
                    ),
                    ("Cache-Control", "no-store"),
                ],
            );
            request.respond(page)
        }
        "/status.json" => {
            let since = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("since="));
            let since = match since.map(str::parse::<u64>) {
                None => None,
                Some(Ok(since)) => Some(since),
                Some(Err(_)) => {
                    return request.respond(text(400, "since= takes a status number (seq)\n"))
                }
            };
            document(request, board, cache, since)
        }
        _ => request.respond(text(404, "not found: try / or /status.json\n")),
    }
}

/// Answers with the latest status: whole, or the changes since status `since`.
fn document(request: Request, board: &Board, cache: &Cache, since: Option<u64>) -> io::Result<()> {
    let body = match since {
        None => json(board, cache),
        Some(since) => board
            .latest()
            .and_then(|status| serde_json::to_string(&status.document(Some(since))).ok())
            .map(Arc::new),
    };
    match body {
        Some(body) => {
            let document = with_headers(
                Response::from_string(body.as_str()),
                &[
                    ("Content-Type", "application/json"),
                    ("Cache-Control", "no-store"),
                ],
            );
            request.respond(document)
        }
        None => request.respond(text(503, "the job has not started yet\n")),
    }
}

/// The latest status as JSON, whole, serialized once per publication.
fn json(board: &Board, cache: &Cache) -> Option<Arc<String>> {
    let status = board.latest()?;
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((cached, body)) = cache.as_ref() {
        if Arc::ptr_eq(cached, &status) {
            return Some(Arc::clone(body));
        }
    }
    let body = Arc::new(serde_json::to_string(&status.document(None)).ok()?);
    *cache = Some((status, Arc::clone(&body)));
    Some(body)
}

/// The request carries the token, in its query or as a bearer token.
fn authorized(request: &Request, query: &str, token: &str) -> bool {
    let from_query = query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("token="))
        .any(|given| same_bytes(given.as_bytes(), token.as_bytes()));
    let from_header = request.headers().iter().any(|h| {
        h.field.equiv("Authorization")
            && h.value
                .as_str()
                .strip_prefix("Bearer ")
                .is_some_and(|given| same_bytes(given.trim().as_bytes(), token.as_bytes()))
    });
    from_query || from_header
}

fn text(code: u16, body: &str) -> Response<io::Cursor<Vec<u8>>> {
    let response = Response::from_string(body).with_status_code(code);
    with_headers(response, &[("Content-Type", "text/plain; charset=utf-8")])
}

fn with_headers<R: io::Read>(mut response: Response<R>, headers: &[(&str, &str)]) -> Response<R> {
    for (name, value) in headers {
        // Fixed ASCII names and values: they always parse.
        if let Ok(header) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    response
}
