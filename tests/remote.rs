//! URL inputs against a real HTTP server on loopback that injects faults: whatever the
//! server does (refusals, rate limits, cuts at and inside gzip members, stalls, short
//! bodies, ignored ranges, redirects), the counts of a URL are byte for byte those of the
//! same file on disk, or the run fails with the documented error.

mod common;

use std::path::{Path, PathBuf};

use common::faults::FaultServer;
use common::{assert_exit, stderr, stdout, wetgen, wetmr, Rng};
use serde_json::{json, Value};
use wetmr::input::gzip::{Fill, MemberReader};

/// Fast retries, so that the tests do not wait for real backoffs.
const FAST: [&str; 2] = ["--retry-wait", "0.02"];

/// A gzip corpus (one member per record) and a plain one, in a fresh directory.
struct Corpus {
    dir: tempfile::TempDir,
    gz: PathBuf,
    plain: PathBuf,
}

fn corpus() -> Corpus {
    let dir = tempfile::tempdir().unwrap();
    let gz = wetgen(dir.path(), "a.warc.wet.gz", "3MB", 7, &["--gzip"]);
    let plain = wetgen(dir.path(), "b.warc.wet", "1MB", 8, &[]);
    Corpus { dir, gz, plain }
}

/// The compressed offsets where the members of a gzip file end.
fn member_ends(path: &Path) -> Vec<usize> {
    let data = std::fs::read(path).unwrap();
    let mut reader = MemberReader::new(&data, 0);
    let mut out = Vec::with_capacity(1 << 20);
    let mut ends = Vec::new();
    loop {
        out.clear();
        match reader.fill(&mut out).unwrap() {
            Fill::Data => {}
            Fill::MemberEnd => ends.push(reader.pos()),
            Fill::Eof => return ends,
        }
    }
}

/// `wetmr count` of `inputs` with `options`: its TSV, or the failed run.
fn count(inputs: &[&str], options: &[&str]) -> std::process::Output {
    let mut args = vec!["count", "--threads", "2"];
    args.extend_from_slice(inputs);
    args.extend_from_slice(options);
    wetmr(&args, &[])
}

/// The TSV of counting `path` from disk.
fn on_disk(path: &Path) -> String {
    let out = count(&[path.to_str().unwrap()], &["-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
}

/// Counts `url` with the fast retry options (and `options`), asserts that it succeeded
/// with the counts of `path` on disk, and returns the run's `--stats` document.
#[track_caller]
fn same_as_disk(url: &str, path: &Path, options: &[&str]) -> Value {
    let stats = tempfile::NamedTempFile::new().unwrap();
    let mut args = FAST.to_vec();
    args.extend_from_slice(&["--stats", stats.path().to_str().unwrap()]);
    args.extend_from_slice(options);
    let out = count(&[url], &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out) == on_disk(path),
        "the counts of {url} differ from those of the file on disk"
    );
    serde_json::from_slice(&std::fs::read(stats.path()).unwrap()).unwrap()
}

/// The one file's download figures in a stats document.
fn download(stats: &Value) -> &Value {
    &stats["per_file"][0]["download"]
}

#[test]
fn a_url_counts_as_its_file_on_disk() {
    let c = corpus();
    let server = FaultServer::start(c.dir.path(), json!({}));
    for path in [&c.gz, &c.plain] {
        let name = path.file_name().unwrap().to_str().unwrap();
        let stats = same_as_disk(&server.url(&format!("/{name}")), path, &[]);
        // The per-file figures match the file's too, and say how the download went.
        let disk = tempfile::NamedTempFile::new().unwrap();
        let out = count(
            &[path.to_str().unwrap()],
            &["-q", "--stats", disk.path().to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(0));
        let disk: Value = serde_json::from_slice(&std::fs::read(disk.path()).unwrap()).unwrap();
        for key in [
            "records",
            "conversion_records",
            "tokens",
            "warc_bytes",
            "bytes_in",
            "languages",
        ] {
            assert_eq!(stats["per_file"][0][key], disk["per_file"][0][key], "{key}");
        }
        let size = std::fs::metadata(path).unwrap().len();
        assert_eq!(download(&stats)["bytes"], size);
        assert_eq!(download(&stats)["attempts"], 1);
        assert_eq!(stats["downloads"]["bytes"], size);
    }
    for request in server.requests() {
        let agent = request["user_agent"].as_str().unwrap();
        assert!(agent.starts_with("wetmr/"), "User-Agent: {agent}");
    }
}

#[test]
fn server_errors_are_retried_and_counted_by_cause() {
    let c = corpus();
    let plan = json!({"/a.warc.wet.gz": [
        {"status": 503}, {"status": 500}, {"status": 502}, {"status": 504}
    ]});
    let server = FaultServer::start(c.dir.path(), plan);
    let stats = same_as_disk(&server.url("/a.warc.wet.gz"), &c.gz, &[]);
    let d = download(&stats);
    assert_eq!(d["attempts"], 5);
    for cause in ["http 500", "http 502", "http 503", "http 504"] {
        assert_eq!(d["retries"][cause], 1, "{cause}: {d}");
    }
    assert_eq!(stats["downloads"]["retries"], 4);
}

#[test]
fn retry_after_is_honoured() {
    let c = corpus();
    let plan = json!({"/a.warc.wet.gz": [{"status": 503, "retry_after": 1}]});
    let server = FaultServer::start(c.dir.path(), plan);
    let started = std::time::Instant::now();
    let stats = same_as_disk(&server.url("/a.warc.wet.gz"), &c.gz, &[]);
    assert!(started.elapsed().as_secs_f64() >= 1.0);
    assert!(download(&stats)["backoff_seconds"].as_f64().unwrap() >= 1.0);
}

#[test]
fn rate_limits_slow_the_whole_process_down() {
    let c = corpus();
    let plan = json!({
        "/a.warc.wet.gz": [{"status": 403}, {"status": 403}, {"status": 403}],
        "/b.warc.wet": [{"status": 429}, {"status": 429}],
    });
    let server = FaultServer::start(c.dir.path(), plan);
    let stats = tempfile::NamedTempFile::new().unwrap();
    let (a, b) = (server.url("/a.warc.wet.gz"), server.url("/b.warc.wet"));
    let mut options = FAST.to_vec();
    options.extend([
        "--downloads",
        "4",
        "--stats",
        stats.path().to_str().unwrap(),
    ]);
    let out = count(&[&a, &b], &options);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let both = count(
        &[c.gz.to_str().unwrap(), c.plain.to_str().unwrap()],
        &["-q"],
    );
    assert!(stdout(&out) == stdout(&both));
    let stats: Value = serde_json::from_slice(&std::fs::read(stats.path()).unwrap()).unwrap();
    let d = &stats["downloads"];
    assert_eq!(d["retries_by_cause"]["http 403"], 3);
    assert_eq!(d["retries_by_cause"]["http 429"], 2);
    assert_eq!(d["concurrency"], 4);
    assert!(d["lowest_concurrency"].as_u64().unwrap() < 4, "{d}");
    assert!(stderr(&out).contains("rate limited"));
}

#[test]
fn permanent_answers_fail_at_once_or_are_skipped() {
    let c = corpus();
    let server = FaultServer::start(
        c.dir.path(),
        json!({"/gone.gz": [{"status": 410}], "/denied.gz": [{"status": 401}]}),
    );
    for (path, status) in [
        ("/missing.gz", "404"),
        ("/gone.gz", "410"),
        ("/denied.gz", "401"),
    ] {
        let url = server.url(path);
        let out = count(&[&url], &FAST);
        assert_exit(&out, 2, &[&url, &format!("HTTP {status}")]);
        assert!(!stderr(&out).contains("retry"), "{}", stderr(&out));
    }
    // Skipped, the missing file is reported and the others counted.
    let missing = server.url("/missing.gz");
    let mut options = FAST.to_vec();
    options.push("--skip-bad-input");
    let out = count(&[&missing, c.gz.to_str().unwrap()], &options);
    assert_exit(&out, 0, &["skipped", "/missing.gz", "HTTP 404"]);
    assert!(stdout(&out) == on_disk(&c.gz));
    let requests = server.requests();
    let asked = |path: &str| requests.iter().filter(|r| r["path"] == path).count();
    assert_eq!(asked("/missing.gz"), 2, "one request per run: no retry");
}

#[test]
fn redirects_are_followed() {
    let c = corpus();
    let plan = json!({"/latest.gz": [{"redirect": "/a.warc.wet.gz"}]});
    let server = FaultServer::start(c.dir.path(), plan);
    same_as_disk(&server.url("/latest.gz"), &c.gz, &[]);
}

#[test]
fn cuts_at_and_inside_members_resume_where_the_body_stopped() {
    let c = corpus();
    let ends = member_ends(&c.gz);
    assert!(ends.len() > 100);
    let at_boundary = ends[ends.len() / 3];
    let inside = ends[2 * ends.len() / 3] - 7;
    let plan = json!({"/a.warc.wet.gz": [{"cut_at": at_boundary}, {"cut_at": inside}]});
    let server = FaultServer::start(c.dir.path(), plan);
    let stats = same_as_disk(&server.url("/a.warc.wet.gz"), &c.gz, &[]);
    assert_eq!(download(&stats)["resumes"], 2);
    assert_eq!(download(&stats)["retries"]["cut"], 2);
    let ranges: Vec<Value> = server
        .requests()
        .iter()
        .map(|r| r["range"].clone())
        .collect();
    assert_eq!(
        ranges,
        [
            Value::Null,
            json!(format!("bytes={at_boundary}-")),
            json!(format!("bytes={inside}-"))
        ]
    );
    // Each resume names the version first seen.
    assert!(server.requests()[1]["if_range"] == "\"v1\"");
}

#[test]
fn every_record_is_counted_once_whatever_the_cuts() {
    let c = corpus();
    let size = std::fs::metadata(&c.gz).unwrap().len() as usize;
    let mut rng = Rng(15);
    let mut cuts: Vec<usize> = (0..12).map(|_| 1 + rng.below(size - 2)).collect();
    cuts.sort();
    let gz_plan: Vec<Value> = cuts.iter().map(|&at| json!({"cut_at": at})).collect();
    let plain_size = std::fs::metadata(&c.plain).unwrap().len() as usize;
    let plain_plan: Vec<Value> = (1..6)
        .map(|k| json!({"cut_at": k * plain_size / 6 + k}))
        .collect();
    let server = FaultServer::start(
        c.dir.path(),
        json!({"/a.warc.wet.gz": gz_plan, "/b.warc.wet": plain_plan}),
    );
    let stats = same_as_disk(&server.url("/a.warc.wet.gz"), &c.gz, &[]);
    assert_eq!(download(&stats)["resumes"], 12);
    let stats = same_as_disk(&server.url("/b.warc.wet"), &c.plain, &[]);
    assert_eq!(download(&stats)["resumes"], 5);
}

#[test]
fn a_stalled_body_times_out_and_resumes() {
    let c = corpus();
    let plan = json!({"/a.warc.wet.gz": [{"stall_at": 100_000, "seconds": 5}]});
    let server = FaultServer::start(c.dir.path(), plan);
    let started = std::time::Instant::now();
    let stats = same_as_disk(
        &server.url("/a.warc.wet.gz"),
        &c.gz,
        &["--read-timeout", "0.5"],
    );
    assert!(
        started.elapsed().as_secs_f64() < 4.0,
        "the stall was waited out"
    );
    assert_eq!(download(&stats)["retries"]["timeout"], 1, "{stats}");
    assert_eq!(download(&stats)["resumes"], 1);
}

#[test]
fn a_server_that_ignores_ranges_sends_the_start_again() {
    let c = corpus();
    let ends = member_ends(&c.gz);
    let cut = ends[ends.len() / 2] - 100;
    let plan = json!({"/a.warc.wet.gz": [
        {"cut_at": cut}, {"ignore_range": true, "cut_at": cut / 2}, {"ignore_range": true}
    ]});
    let server = FaultServer::start(c.dir.path(), plan);
    let stats = same_as_disk(&server.url("/a.warc.wet.gz"), &c.gz, &[]);
    let d = download(&stats);
    assert_eq!(d["ranges_ignored"], 2, "{d}");
    let size = std::fs::metadata(&c.gz).unwrap().len() as usize;
    // The whole file once, and again what was already counted, up to each cut.
    assert_eq!(d["bytes"], size + cut + cut / 2);
}

#[test]
fn a_file_that_changes_during_the_download_fails() {
    let c = corpus();
    let plan = json!({"/a.warc.wet.gz": [{"cut_at": 50_000}, {"etag": "\"v2\""}]});
    let server = FaultServer::start(c.dir.path(), plan);
    let url = server.url("/a.warc.wet.gz");
    let out = count(&[&url], &FAST);
    assert_exit(&out, 2, &[&url, "changed on the server"]);
}

#[test]
fn retries_have_a_limit() {
    let c = corpus();
    let plan = json!({"/a.warc.wet.gz": vec![json!({"status": 503}); 10]});
    let server = FaultServer::start(c.dir.path(), plan);
    let url = server.url("/a.warc.wet.gz");
    let mut options = FAST.to_vec();
    options.extend(["--max-retries", "2"]);
    let out = count(&[&url], &options);
    assert_exit(&out, 2, &[&url, "gave up after 3 attempts", "HTTP 503"]);
}

#[test]
fn a_listing_with_a_url_base_and_a_listing_at_a_url() {
    let c = corpus();
    // Common Crawl's layout: a gzipped list of paths relative to the data server.
    let sub = c.dir.path().join("crawl-data");
    std::fs::create_dir(&sub).unwrap();
    std::fs::copy(&c.gz, sub.join("a.warc.wet.gz")).unwrap();
    std::fs::copy(&c.plain, sub.join("b.warc.wet")).unwrap();
    let list = "crawl-data/a.warc.wet.gz\ncrawl-data/b.warc.wet\n";
    let listing = c.dir.path().join("wet.paths.gz");
    std::fs::write(
        &listing,
        common::gzip(list.as_bytes(), flate2::Compression::default()),
    )
    .unwrap();
    let server = FaultServer::start(c.dir.path(), json!({}));
    let base = server.url("/");
    let expected = stdout(&count(
        &[c.gz.to_str().unwrap(), c.plain.to_str().unwrap()],
        &["-q"],
    ));
    for list in [
        listing.to_str().unwrap().to_string(),
        server.url("/wet.paths.gz"),
    ] {
        let out = count(&[], &["-q", "--inputs", &list, "--input-base", &base]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stdout(&out) == expected, "--inputs {list}");
    }
}

#[test]
fn a_body_that_stays_short_is_never_counted_as_whole() {
    let c = corpus();
    let ends = member_ends(&c.gz);
    let at = ends[ends.len() / 2] + 3;
    let plan = json!({"/a.warc.wet.gz": vec![json!({"cut_at": at}); 8]});
    let server = FaultServer::start(c.dir.path(), plan);
    let url = server.url("/a.warc.wet.gz");
    let mut options = FAST.to_vec();
    options.extend(["--max-retries", "3"]);
    let out = count(&[&url], &options);
    let size = std::fs::metadata(&c.gz).unwrap().len();
    assert_exit(
        &out,
        2,
        &[
            &url,
            "gave up",
            &format!("the body ended at byte {at} of {size}"),
        ],
    );
    assert!(stdout(&out).is_empty());
    // Skipped, what came is counted, and the rest is reported as skipped.
    let stats = tempfile::NamedTempFile::new().unwrap();
    options.extend([
        "--skip-bad-input",
        "--stats",
        stats.path().to_str().unwrap(),
    ]);
    let out = count(&[&url], &options);
    assert_exit(&out, 0, &["skipped", "gave up"]);
    let stats: Value = serde_json::from_slice(&std::fs::read(stats.path()).unwrap()).unwrap();
    let file = &stats["per_file"][0];
    let members_before = ends.iter().filter(|&&e| e <= at).count() as u64;
    assert_eq!(
        file["records"], members_before,
        "one record per member, up to the cut"
    );
    assert_eq!(file["skipped"].as_array().unwrap().len(), 1);
}

/// Two workers that can read no file of the tests (their --input-root is an empty
/// directory) and a machines file naming them.
fn sealed_workers(dir: &Path) -> (Vec<common::Worker>, PathBuf) {
    let empty = dir.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let root = ["--input-root", empty.to_str().unwrap()];
    let workers: Vec<_> = (0..2)
        .map(|_| common::Worker::start_with("127.0.0.1:0", 1, &root))
        .collect();
    let machines = dir.join("machines.txt");
    let list: String = workers.iter().map(|w| format!("{}\n", w.addr)).collect();
    std::fs::write(&machines, list).unwrap();
    (workers, machines)
}

#[test]
fn a_cluster_fetches_urls_through_faults() {
    let c = corpus();
    let more = wetgen(c.dir.path(), "c.warc.wet.gz", "1MB", 9, &["--gzip"]);
    let ends = member_ends(&c.gz);
    let plan = json!({
        "/a.warc.wet.gz": [{"status": 503}, {"cut_at": ends[ends.len() / 2] - 5}],
        "/b.warc.wet": [{"status": 429}],
        "/c.warc.wet.gz": [{"stall_at": 1000, "seconds": 3}],
    });
    let server = FaultServer::start(c.dir.path(), plan);
    let work = tempfile::tempdir().unwrap();
    let (_workers, machines) = sealed_workers(work.path());
    let urls = [
        server.url("/a.warc.wet.gz"),
        server.url("/b.warc.wet"),
        server.url("/c.warc.wet.gz"),
    ];
    let stats = work.path().join("stats.json");
    let mut args = vec!["run", "--machines", machines.to_str().unwrap(), "-q"];
    args.extend(urls.iter().map(String::as_str));
    args.extend(FAST);
    // (No backup copies: the figures are then those of the one attempt that met the faults.)
    args.extend(["--read-timeout", "0.5", "--no-backup-tasks"]);
    args.extend(["--stats", stats.to_str().unwrap()]);
    let out = wetmr(&args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let disk = count(
        &[
            c.gz.to_str().unwrap(),
            c.plain.to_str().unwrap(),
            more.to_str().unwrap(),
        ],
        &["-q"],
    );
    assert!(stdout(&out) == stdout(&disk), "the cluster's counts differ");
    let stats: Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    let files = stats["per_file"].as_array().unwrap();
    assert_eq!(files[0]["path"], urls[0]);
    assert_eq!(files[0]["download"]["resumes"], 1, "{}", files[0]);
    assert_eq!(files[1]["download"]["retries"]["http 429"], 1);
    assert_eq!(files[2]["download"]["retries"]["timeout"], 1);
    // A URL no worker can fetch fails the job like a file no worker can read.
    let missing = server.url("/missing.gz");
    let out = wetmr(
        &["run", "--machines", machines.to_str().unwrap(), &missing],
        &[],
    );
    assert_exit(&out, 2, &[&missing, "HTTP 404"]);
}

#[test]
fn served_inputs_reach_workers_that_cannot_read_them() {
    let c = corpus();
    let work = tempfile::tempdir().unwrap();
    let (_workers, machines) = sealed_workers(work.path());
    let files = [c.gz.to_str().unwrap(), c.plain.to_str().unwrap()];
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--machines", machines.to_str().unwrap()];
        args.extend(files);
        args.extend(extra);
        wetmr(&args, &[])
    };
    let refused = run(&[]);
    assert_exit(&refused, 2, &["outside this worker's --input-root"]);
    let served = run(&["--serve-inputs", "127.0.0.1:0"]);
    assert_exit(&served, 0, &["serving the job's files"]);
    assert!(stdout(&served) == stdout(&count(&files, &["-q"])));
    // The same with the default address, and a cluster secret.
    let key = common::keygen(work.path(), "cluster.key");
    let secret = ["--secret-file", key.to_str().unwrap()];
    let workers: Vec<_> = (0..2)
        .map(|_| common::Worker::start_with("127.0.0.1:0", 1, &secret))
        .collect();
    let list: String = workers.iter().map(|w| format!("{}\n", w.addr)).collect();
    std::fs::write(&machines, list).unwrap();
    let served = run(&["--serve-inputs", "-q", secret[0], secret[1]]);
    assert_eq!(served.status.code(), Some(0), "{}", stderr(&served));
    assert!(stdout(&served) == stdout(&count(&files, &["-q"])));
}

#[test]
fn the_input_server_serves_only_the_job_and_only_with_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.wet");
    std::fs::write(&file, b"0123456789").unwrap();
    let server = wetmr::cluster::serve::start("127.0.0.1:0".parse().unwrap(), vec![file]).unwrap();
    let get = |path: &str, range: Option<&str>| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        let range = range.map_or(String::new(), |r| format!("Range: {r}\r\n"));
        // (A request the server refuses may be closed before it is all written.)
        let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n{range}\r\n");
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer
    };
    let token = &server.token;
    assert_eq!(token.len(), 32);
    let whole = get(&format!("/{token}/0"), None);
    assert!(
        whole.starts_with("HTTP/1.1 200") && whole.ends_with("0123456789"),
        "{whole}"
    );
    let rest = get(&format!("/{token}/0"), Some("bytes=4-"));
    assert!(rest.starts_with("HTTP/1.1 206"), "{rest}");
    assert!(rest.contains("Content-Range: bytes 4-9/10") && rest.ends_with("456789"));
    assert!(get("/0/0", None).starts_with("HTTP/1.1 401"));
    let wrong = format!("/{}/0", "f".repeat(32));
    assert!(get(&wrong, None).starts_with("HTTP/1.1 401"));
    assert!(get(&format!("/{token}/1"), None).starts_with("HTTP/1.1 404"));
    assert!(get(&format!("/{token}/../0"), None).starts_with("HTTP/1.1 404"));
    // A request line longer than the server reads is not answered: the connection closes.
    assert_eq!(get(&format!("/{token}/{}", "0".repeat(20_000)), None), "");
}

#[test]
fn a_cache_keeps_whole_downloads_for_later_runs() {
    let c = corpus();
    let ends = member_ends(&c.gz);
    let plan = json!({
        "/a.warc.wet.gz": [{"cut_at": ends[10] + 3}],
        "/b.warc.wet": vec![json!({"cut_at": 1000}); 4],
    });
    let server = FaultServer::start(c.dir.path(), plan);
    let cache = tempfile::tempdir().unwrap();
    let (a, b) = (server.url("/a.warc.wet.gz"), server.url("/b.warc.wet"));
    let mut options = FAST.to_vec();
    options.extend(["--cache-dir", cache.path().to_str().unwrap()]);
    // a resumes and arrives whole; b never does (it is skipped, and not cached).
    let mut first = options.clone();
    first.extend(["--skip-bad-input", "--max-retries", "1", "-q"]);
    let out = count(&[&a, &b], &first);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out) == on_disk(&c.gz));
    let host = cache.path().join(format!("127.0.0.1:{}", server.port));
    let kept: Vec<_> = std::fs::read_dir(&host)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(kept, ["a.warc.wet.gz"], "only the whole download is kept");
    assert!(std::fs::read(host.join("a.warc.wet.gz")).unwrap() == std::fs::read(&c.gz).unwrap());
    // A later run reads it from the cache: no request, the same counts.
    let asked = server.requests().len();
    let stats = tempfile::NamedTempFile::new().unwrap();
    let mut second = options.clone();
    second.extend(["-q", "--stats", stats.path().to_str().unwrap()]);
    let out = count(&[&a], &second);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out) == on_disk(&c.gz));
    assert_eq!(
        server.requests().len(),
        asked,
        "the cached file was downloaded again"
    );
    let stats: Value = serde_json::from_slice(&std::fs::read(stats.path()).unwrap()).unwrap();
    assert_eq!(download(&stats)["cached"], true);
    assert_eq!(stats["per_file"][0]["path"], a);
}

#[test]
fn damaged_files_fail_or_skip_the_same_over_http() {
    // The shared conformance files (real and damaged WET): served, each gives the exit
    // code, output, messages and per-file figures of the file on disk, with and without
    // --skip-bad-input.
    let Some(data) = common::shared_data() else {
        return;
    };
    let server = FaultServer::start(&data, json!({}));
    let mut checked = 0;
    for sub in ["real", "damaged"] {
        let mut names: Vec<_> = std::fs::read_dir(data.join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        for name in names {
            let path = data.join(sub).join(&name);
            let url = server.url(&format!("/{sub}/{name}"));
            for skip in [false, true] {
                let run = |input: &str| {
                    let stats = tempfile::NamedTempFile::new().unwrap();
                    let mut args = vec![input, "--stats", stats.path().to_str().unwrap()];
                    if skip {
                        args.push("--skip-bad-input");
                    }
                    let out = count(&args, &FAST);
                    let stats: Option<Value> = std::fs::read(stats.path())
                        .ok()
                        .and_then(|b| serde_json::from_slice(&b).ok());
                    (out, stats)
                };
                let (disk, disk_stats) = run(path.to_str().unwrap());
                let (http, http_stats) = run(&url);
                let what = format!("{sub}/{name} (skip: {skip})");
                assert_eq!(http.status.code(), disk.status.code(), "{what}");
                assert!(http.stdout == disk.stdout, "{what}: the counts differ");
                let said = stderr(&http).replace(&url, path.to_str().unwrap());
                let said: Vec<_> = said.lines().filter(|l| !l.contains(" MB/s")).collect();
                let disk_said = stderr(&disk);
                let disk_said: Vec<_> =
                    disk_said.lines().filter(|l| !l.contains(" MB/s")).collect();
                assert_eq!(said, disk_said, "{what}: the messages differ");
                if let (Some(d), Some(h)) = (disk_stats, http_stats) {
                    let (d, h) = (&d["per_file"][0], &h["per_file"][0]);
                    for key in [
                        "records",
                        "tokens",
                        "warc_bytes",
                        "skipped_bytes",
                        "skipped",
                    ] {
                        assert_eq!(d[key], h[key], "{what}: {key}");
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 10);
}

#[test]
fn a_url_given_to_the_engine_without_a_client_fails() {
    let job = wetmr::engine::Job {
        tokenizer: Default::default(),
        content_type: None,
        policy: wetmr::engine::Policy::Strict,
        split_bytes: None,
        spill_at: 1000,
    };
    let text = "http://127.0.0.1:1/a.warc.wet.gz";
    let url = wetmr::remote::RemoteUrl::parse(text).unwrap();
    let inputs = [wetmr::input::Input::url(url, text)];
    let outcome = wetmr::engine::run(&job, &inputs, &Default::default());
    assert!(matches!(outcome, Err(wetmr::error::Error::Usage(_))));
}
