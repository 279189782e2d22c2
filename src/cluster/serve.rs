//! `wetmr run --serve-inputs`: the coordinator serves its job's input files to the workers
//! over HTTP, for clusters without a shared file system.
//!
//! Why HTTP on a port of its own rather than the cluster protocol: the workers then fetch
//! served files through exactly the path they fetch any URL with (`remote::Download`:
//! ranges, resumption, retries, the same figures), the coordinator's event loop never
//! touches file bytes, and the kernel sends the bytes (`std::io::copy` from a file to a
//! socket). What it serves is narrow: only the job's files, by task number
//! (`/TOKEN/TASK`), only to holders of the job's token — 128 random bits made for each job
//! and sent to the workers inside the job description, so, in a cluster with a secret,
//! only over authenticated connections. A wrong token is answered 401, an unknown task
//! 404. The bytes themselves travel unencrypted, like the cluster's own messages.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a served connection may stay silent before it is closed.
const IDLE: Duration = Duration::from_secs(120);
/// The longest request or header line read; a longer one closes the connection.
const LINE_MAX: u64 = 8 << 10;
/// Headers per request, at most.
const HEADERS_MAX: usize = 100;
/// Connections served at once, at most (a worker needs one per download): more are
/// closed at once.
const CONNS_MAX: usize = 256;

/// A running input server.
pub struct InputServer {
    pub port: u16,
    pub token: String,
}

/// What the server serves.
struct Served {
    token: String,
    files: Vec<PathBuf>,
}

/// Starts serving `files` (by index) on `bind` (port 0: any free port), on threads that
/// live as long as the process.
pub fn start(bind: SocketAddr, files: Vec<PathBuf>) -> io::Result<InputServer> {
    let listener = TcpListener::bind(bind)?;
    let port = listener.local_addr()?.port();
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
    let token: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let served = Arc::new(Served {
        token: token.clone(),
        files,
    });
    std::thread::Builder::new()
        .name("wetmr-serve".into())
        .spawn(move || {
            let open = Arc::new(AtomicUsize::new(0));
            for stream in listener.incoming().flatten() {
                if open.fetch_add(1, Ordering::Relaxed) >= CONNS_MAX {
                    open.fetch_sub(1, Ordering::Relaxed);
                    continue;
                }
                let (served, leaving) = (served.clone(), open.clone());
                let spawned = std::thread::Builder::new()
                    .name("wetmr-serve-conn".into())
                    .spawn(move || {
                        let _ = serve(stream, &served);
                        leaving.fetch_sub(1, Ordering::Relaxed);
                    });
                if spawned.is_err() {
                    open.fetch_sub(1, Ordering::Relaxed);
                }
            }
        })?;
    Ok(InputServer { port, token })
}

/// Answers the requests of one connection.
fn serve(stream: TcpStream, served: &Served) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE))?;
    stream.set_write_timeout(Some(IDLE))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let Some(line) = read_line(&mut reader)? else {
            return Ok(());
        };
        let mut range_start = None;
        for headers in 0.. {
            let Some(header) = read_line(&mut reader)? else {
                return Ok(());
            };
            if headers == HEADERS_MAX {
                answer(&mut out, "431 Request Header Fields Too Large", &[])?;
                return Ok(());
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.trim().eq_ignore_ascii_case("range") {
                    range_start = value
                        .trim()
                        .strip_prefix("bytes=")
                        .and_then(|r| r.strip_suffix('-'))
                        .and_then(|n| n.parse::<u64>().ok());
                }
            }
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if method != "GET" {
            answer(&mut out, "405 Method Not Allowed", &[])?;
            continue;
        }
        let mut path = target.trim_start_matches('/').splitn(2, '/');
        let (token, task) = (path.next().unwrap_or(""), path.next().unwrap_or(""));
        if !crate::net::auth::same_bytes(token.as_bytes(), served.token.as_bytes()) {
            answer(&mut out, "401 Unauthorized", &[])?;
            continue;
        }
        let Some(file) = task.parse::<usize>().ok().and_then(|t| served.files.get(t)) else {
            answer(&mut out, "404 Not Found", &[])?;
            continue;
        };
        let Ok(mut file) = File::open(file) else {
            answer(&mut out, "404 Not Found", &[])?;
            continue;
        };
        let meta = file.metadata()?;
        let (size, modified) = (meta.len(), meta.modified().ok());
        let version = modified
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let etag = format!("\"{size:x}-{version:x}\"");
        let start = range_start.filter(|&s| s < size);
        let mut headers = vec![
            format!("ETag: {etag}"),
            "Accept-Ranges: bytes".to_string(),
            "Content-Type: application/octet-stream".to_string(),
        ];
        let (status, from) = match start {
            Some(from) => {
                headers.push(format!("Content-Range: bytes {from}-{}/{size}", size - 1));
                ("206 Partial Content", from)
            }
            None => ("200 OK", 0),
        };
        headers.push(format!("Content-Length: {}", size - from));
        write_head(&mut out, status, &headers)?;
        file.seek(SeekFrom::Start(from))?;
        io::copy(&mut (&mut file).take(size - from), &mut out)?;
        out.flush()?;
    }
}

/// One line of the request, at most [`LINE_MAX`] bytes; `None` at the end of the
/// connection or past the limit (the connection is then closed).
fn read_line(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = String::new();
    let n = reader.take(LINE_MAX).read_line(&mut line)?;
    Ok((n > 0 && line.ends_with('\n')).then_some(line))
}

fn answer(out: &mut TcpStream, status: &str, headers: &[String]) -> io::Result<()> {
    let mut headers = headers.to_vec();
    headers.push("Content-Length: 0".into());
    write_head(out, status, &headers)
}

fn write_head(out: &mut TcpStream, status: &str, headers: &[String]) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())
}

/// The URL a worker fetches task `task` of a served job from, the coordinator being at
/// `coordinator` (as the worker sees it).
pub fn task_url(
    coordinator: std::net::IpAddr,
    port: u16,
    token: &str,
    task: crate::protocol::ids::TaskId,
) -> String {
    let host = match coordinator {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        std::net::IpAddr::V4(ip) => ip.to_string(),
    };
    format!("http://{host}:{port}/{token}/{task}")
}
