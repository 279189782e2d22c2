//! The machines file (`machines.txt`): the workers of a cluster, one `host:port` per line.
//!
//! `#` starts a comment; blank lines are ignored; a bare host (or IP address) means
//! [`DEFAULT_PORT`]. Names are resolved here, before the event loop starts (the first
//! address of a name wins). A worker listed twice is an error: it would be asked to serve
//! the same job twice.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;

use crate::error::{Error, Result};

/// The port of `wetmr worker` when none is given.
pub const DEFAULT_PORT: u16 = 7070;

/// Reads and resolves a machines file.
pub fn read_machines(path: &Path) -> Result<Vec<SocketAddr>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let entry = line.split('#').next().unwrap_or_default().trim();
        if entry.is_empty() {
            continue;
        }
        let bad = |what: String| Error::List {
            path: path.to_path_buf(),
            line: i + 1,
            what,
        };
        let addr = parse_machine(entry).map_err(|e| bad(format!("{entry}: {e}")))?;
        if addrs.contains(&addr) {
            return Err(bad(format!("{entry}: worker {addr} is listed twice")));
        }
        addrs.push(addr);
    }
    if addrs.is_empty() {
        return Err(Error::Usage(format!(
            "{}: the machines file lists no workers",
            crate::error::shown(path)
        )));
    }
    Ok(addrs)
}

/// One entry: `host:port`, `host`, `ip`, `ip:port` or `[v6]:port`.
pub fn parse_machine(entry: &str) -> std::result::Result<SocketAddr, String> {
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    let resolved = if entry.contains(':') {
        entry.to_socket_addrs()
    } else {
        (entry, DEFAULT_PORT).to_socket_addrs()
    };
    resolved
        .map_err(|e| format!("cannot resolve: {e}"))?
        .next()
        .ok_or_else(|| "resolves to no address".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_default_port() {
        assert_eq!(parse_machine("127.0.0.1:9000").unwrap().port(), 9000);
        assert_eq!(parse_machine("127.0.0.1").unwrap().port(), DEFAULT_PORT);
        assert_eq!(parse_machine("::1").unwrap().port(), DEFAULT_PORT);
        assert_eq!(parse_machine("[::1]:81").unwrap().port(), 81);
        assert_eq!(parse_machine("localhost:82").unwrap().port(), 82);
        assert_eq!(parse_machine("localhost").unwrap().port(), DEFAULT_PORT);
        assert!(parse_machine("127.0.0.1:notaport").is_err());
    }

    #[test]
    fn files_with_comments_duplicates_and_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("machines.txt");
        std::fs::write(
            &path,
            "# workers\n127.0.0.1:7001\n\n  127.0.0.1:7002 # second\n",
        )
        .unwrap();
        let addrs = read_machines(&path).unwrap();
        assert_eq!(
            addrs.iter().map(|a| a.port()).collect::<Vec<_>>(),
            [7001, 7002]
        );
        std::fs::write(&path, "127.0.0.1:7001\n127.0.0.1:7001\n").unwrap();
        let err = read_machines(&path).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("twice"), "{err}");
        std::fs::write(&path, "# nobody\n\n").unwrap();
        assert!(read_machines(&path).is_err());
    }
}
