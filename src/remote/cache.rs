//! `--cache-dir`: downloaded files kept whole on disk, so that a later run reads them from
//! there instead of downloading them again (benchmarks rerun the same shards).
//!
//! A URL is kept at `DIR/HOST/PATH` (`DIR/s3/BUCKET/KEY` for S3), each path segment made
//! safe for a file name. A download writes what it receives to a temporary file beside
//! that name, and renames it into place only once the body has reached the length the
//! server announced (a download without a length is not cached): a file in the cache is
//! always whole. The counts a cached file gives are those of the download it came from.

use std::path::{Path, PathBuf};

use super::RemoteUrl;

/// Where `url` is kept under `dir`.
pub fn path(dir: &Path, url: &RemoteUrl) -> PathBuf {
    let (host, rest) = match url {
        RemoteUrl::Http(url) => {
            let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            (safe(&host.to_ascii_lowercase()), path.to_string())
        }
        RemoteUrl::S3 { bucket, key } => (format!("s3/{}", safe(bucket)), key.clone()),
    };
    let mut out = dir.join(host);
    let (path, query) = rest.split_once('?').unwrap_or((&rest, ""));
    let mut segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(safe)
        .collect();
    if segments.is_empty() {
        segments.push("_".into());
    }
    if !query.is_empty() {
        let last = segments.pop().unwrap_or_default();
        segments.push(format!("{last}%3F{}", safe(query)));
    }
    for segment in segments {
        out.push(segment);
    }
    out
}

/// A path segment as a file name: `/`, `%`, NUL and control characters percent-encoded,
/// and `.` or `..` made harmless.
fn safe(segment: &str) -> String {
    if segment == "." || segment == ".." {
        return segment.replace('.', "%2E");
    }
    let mut out = String::with_capacity(segment.len());
    for c in segment.chars() {
        match c {
            '/' | '%' | '\\' => out.push_str(&format!("%{:02X}", c as u32)),
            c if c.is_control() => out.push_str(&format!("%{:02X}", c as u32 & 0xff)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_map_to_paths_under_the_cache() {
        let dir = Path::new("/cache");
        let url = RemoteUrl::Http("https://Data.CommonCrawl.org/crawl-data/a/b.warc.wet.gz".into());
        assert_eq!(
            path(dir, &url),
            Path::new("/cache/data.commoncrawl.org/crawl-data/a/b.warc.wet.gz")
        );
        let s3 = RemoteUrl::S3 {
            bucket: "commoncrawl".into(),
            key: "crawl-data/x.gz".into(),
        };
        assert_eq!(
            path(dir, &s3),
            Path::new("/cache/s3/commoncrawl/crawl-data/x.gz")
        );
    }

    #[test]
    fn no_url_leads_out_of_the_cache() {
        let dir = Path::new("/cache");
        for url in [
            "http://h/../../etc/passwd",
            "http://../x",
            "http://h/a/./b/%2e%2e/c",
            "http://h/",
        ] {
            let p = path(dir, &RemoteUrl::Http(url.into()));
            assert!(p.starts_with(dir), "{url}: {p:?}");
            assert!(
                !p.components().any(|c| matches!(
                    c,
                    std::path::Component::ParentDir | std::path::Component::CurDir
                )),
                "{url}: {p:?}"
            );
        }
        let q = path(dir, &RemoteUrl::Http("http://h/a?x=1/2".into()));
        assert_eq!(q, Path::new("/cache/h/a%3Fx=1%2F2"));
    }
}
