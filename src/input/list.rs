//! Expanding the command line's inputs into an ordered list of files.
//!
//! An input is a file, a URL (`http://`, `https://`, `s3://`), a directory (its `*.wet` and
//! `*.wet.gz` files, sorted by name), or a list file given with `--inputs`: one path or URL
//! per line, `#` comments and blank lines ignored. List files may be gzip-compressed (Common
//! Crawl's `wet.paths.gz`) and may themselves be URLs; relative entries in a list are joined
//! to `--input-base` when it is given, which may be a directory or a URL (so Common Crawl's
//! own listing works with `--input-base https://data.commoncrawl.org/`). Order is kept and
//! nothing is deduplicated: a file named twice is counted twice, as the user asked.
//!
//! Every entry of a directory whose name matches is an input, whatever it turns out to be:
//! a dangling symlink, a symlink loop or a FIFO named `x.wet` then fails (or, with
//! `--skip-bad-input`, is reported as skipped) as it would if it were named directly,
//! instead of vanishing from the job. Only subdirectories are passed over.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::remote::{Client, Download, RemoteUrl};

/// Inputs as the user gave them.
#[derive(Debug, Clone, Default)]
pub struct InputSpec {
    /// Paths from the command line: files or directories.
    pub paths: Vec<PathBuf>,
    /// A list file (`--inputs`).
    pub list: Option<PathBuf>,
    /// Prefix for relative paths found in the list file (`--input-base`): a directory or
    /// a URL.
    pub base: Option<PathBuf>,
}

/// One file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The file's path, or the URL as given: how messages and stats name the input.
    pub path: PathBuf,
    /// It may be a pipe (`/dev/stdin`, a FIFO), read into memory: only a path named on the
    /// command line. Files found in directories or lists, and tasks a worker is given,
    /// must be regular files.
    pub pipe_ok: bool,
    /// Where the bytes come from when the input is a URL.
    pub remote: Option<RemoteUrl>,
}

impl Input {
    /// A regular file.
    pub fn file(path: impl Into<PathBuf>) -> Input {
        Input {
            path: path.into(),
            pipe_ok: false,
            remote: None,
        }
    }

    /// A URL input (already checked by [`RemoteUrl::parse`]).
    pub fn url(url: RemoteUrl, text: &str) -> Input {
        Input {
            path: PathBuf::from(text),
            pipe_ok: false,
            remote: Some(url),
        }
    }
}

/// `path` as a URL, when it is written as one.
fn as_url(path: &Path) -> Option<Result<(RemoteUrl, &str)>> {
    let text = path.to_str()?;
    RemoteUrl::is_url(text).then(|| {
        RemoteUrl::parse(text)
            .map(|url| (url, text))
            .map_err(Error::Usage)
    })
}

/// Resolves an [`InputSpec`] into the files to read, in order. `client` fetches a list
/// given as a URL.
pub fn expand_inputs(spec: &InputSpec, client: Option<&Client>) -> Result<Vec<Input>> {
    let mut files = Vec::new();
    for path in &spec.paths {
        expand_path(path, true, &mut files)?;
    }
    if let Some(list) = &spec.list {
        for entry in read_list(list, client)? {
            let path = match spec.base.as_deref().and_then(Path::to_str) {
                Some(base) if RemoteUrl::is_url(base) => {
                    PathBuf::from(RemoteUrl::join(base, &entry.to_string_lossy()))
                }
                _ => match &spec.base {
                    Some(base) if entry.is_relative() && as_url(&entry).is_none() => {
                        base.join(&entry)
                    }
                    _ => entry,
                },
            };
            expand_path(&path, false, &mut files)?;
        }
    }
    Ok(files)
}

/// Adds a URL, a file, or a directory's WET files, to `files`.
fn expand_path(path: &Path, pipe_ok: bool, files: &mut Vec<Input>) -> Result<()> {
    if let Some(url) = as_url(path) {
        let (url, text) = url?;
        files.push(Input::url(url, text));
        return Ok(());
    }
    let meta = fs::metadata(path).map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        files.push(Input {
            path: path.to_path_buf(),
            pipe_ok,
            remote: None,
        });
        return Ok(());
    }
    let open_err = |source| Error::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut found = Vec::new();
    for entry in fs::read_dir(path).map_err(open_err)? {
        let entry = entry.map_err(open_err)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.ends_with(".wet") || name.ends_with(".wet.gz")) {
            continue;
        }
        // Followed through symlinks; what cannot be followed is an input that will fail.
        let subdirectory = fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
        if !subdirectory {
            found.push(entry.path());
        }
    }
    if found.is_empty() {
        return Err(Error::EmptyDir {
            path: path.to_path_buf(),
        });
    }
    found.sort();
    files.extend(found.into_iter().map(Input::file));
    Ok(())
}

/// Reads a list file (plain or gzip, on disk or at a URL) into its entries.
fn read_list(path: &Path, client: Option<&Client>) -> Result<Vec<PathBuf>> {
    let raw = match as_url(path) {
        Some(url) => {
            let (url, text) = url?;
            fetch_list(&url, text, client)?
        }
        None => fs::read(path).map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?,
    };
    let text = if raw.starts_with(&[0x1f, 0x8b]) {
        gunzip_list(&raw, LIST_MAX).map_err(|what| Error::ListFile {
            path: path.to_path_buf(),
            what,
        })?
    } else if raw.len() as u64 > LIST_MAX {
        return Err(Error::ListFile {
            path: path.to_path_buf(),
            what: format!("a list of more than {} MiB", LIST_MAX >> 20),
        });
    } else {
        raw
    };
    parse_list(path, &text)
}

/// Downloads a list given as a URL, up to [`LIST_MAX`] bytes.
fn fetch_list(url: &RemoteUrl, text: &str, client: Option<&Client>) -> Result<Vec<u8>> {
    let failed = |what: String| Error::Download {
        url: text.to_string(),
        what,
    };
    let client = client.ok_or_else(|| failed("URL lists are not read here".into()))?;
    let download = Download::open(client, url).map_err(failed)?;
    let mut raw = Vec::new();
    download
        .take(LIST_MAX + 1)
        .read_to_end(&mut raw)
        .map_err(|e| failed(e.to_string()))?;
    if raw.len() as u64 > LIST_MAX {
        return Err(failed(format!(
            "a list of more than {} MiB",
            LIST_MAX >> 20
        )));
    }
    Ok(raw)
}

/// Largest list accepted, decompressed: a crawl's `wet.paths` is about 10 MB (90,000
/// lines), so this is several crawls' worth.
const LIST_MAX: u64 = 64 << 20;

/// Decompresses a gzipped list, refusing more than `limit` bytes of text.
fn gunzip_list(raw: &[u8], limit: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(raw)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot decompress list: {e}"))?;
    if out.len() as u64 > limit {
        return Err(format!(
            "list decompresses to more than {} MiB",
            limit >> 20
        ));
    }
    Ok(out)
}

/// Parses the text of a list file: one path per line, `#` comments, blank lines ignored.
pub fn parse_list(path: &Path, text: &[u8]) -> Result<Vec<PathBuf>> {
    // A byte-order mark, as some editors write, is no part of the first path.
    let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
    let text = std::str::from_utf8(text).map_err(|e| Error::List {
        path: path.to_path_buf(),
        line: 1 + text[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
        what: "not valid UTF-8".into(),
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(PathBuf::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// Creates `file` (and its folders) in a temporary base, lists it in `list_name` with
    /// `encode` applied, and expands the list with that base.
    fn expand_listed(file: &str, list_name: &str, encode: fn(&[u8]) -> Vec<u8>) -> Vec<PathBuf> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"").unwrap();
        let list = dir.path().join(list_name);
        fs::write(&list, encode(format!("# inputs\n{file}\n").as_bytes())).unwrap();
        let spec = InputSpec {
            list: Some(list),
            base: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let got = expand_inputs(&spec, None).unwrap();
        got.iter()
            .map(|i| i.path.strip_prefix(dir.path()).unwrap().to_path_buf())
            .collect()
    }

    #[test]
    fn relative_list_entries_get_the_base() {
        let got = expand_listed("crawl/x.warc.wet.gz", "wet.paths", <[u8]>::to_vec);
        assert_eq!(got, [PathBuf::from("crawl/x.warc.wet.gz")]);
    }

    #[test]
    fn gzipped_lists_are_read() {
        let got = expand_listed("a.wet", "wet.paths.gz", gzip);
        assert_eq!(got, [PathBuf::from("a.wet")]);
    }

    #[test]
    fn gzipped_lists_are_bounded() {
        let raw = gzip(&vec![b'x'; 2 << 20]);
        assert_eq!(gunzip_list(&raw, 2 << 20).unwrap().len(), 2 << 20);
        assert!(gunzip_list(&raw, 1 << 20)
            .unwrap_err()
            .contains("more than 1 MiB"));
    }

    #[test]
    fn list_skips_comments_and_blanks() {
        let text = b"# files\n\na.wet.gz\r\n  b.wet  \n#c.wet\n";
        let got = parse_list(Path::new("l"), text).unwrap();
        assert_eq!(got, vec![PathBuf::from("a.wet.gz"), PathBuf::from("b.wet")]);
    }

    #[test]
    fn list_with_invalid_utf8_names_the_line() {
        let err = parse_list(Path::new("l"), b"a\nb\n\xff\n").unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn directory_is_sorted_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.wet.gz", "a.wet", "c.txt", "d.warc.wet.gz"] {
            fs::write(dir.path().join(name), b"").unwrap();
        }
        let spec = InputSpec {
            paths: vec![dir.path().to_path_buf()],
            ..Default::default()
        };
        let names: Vec<_> = expand_inputs(&spec, None)
            .unwrap()
            .iter()
            .map(|i| i.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.wet", "b.wet.gz", "d.warc.wet.gz"]);
    }

    #[test]
    fn empty_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let spec = InputSpec {
            paths: vec![dir.path().to_path_buf()],
            ..Default::default()
        };
        assert!(matches!(
            expand_inputs(&spec, None),
            Err(Error::EmptyDir { .. })
        ));
    }
}
