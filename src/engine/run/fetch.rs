//! URL inputs in a run: each one, when its place in the window comes, gets a thread of its
//! own (outside the pool) that downloads, decodes and parses it, and hands its records'
//! text to the pool ([`crate::engine::stream`]).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, PoisonError};

use super::{foreign, tally_file, Run};
use crate::engine::decode::PlainReader;
use crate::engine::scan::{self, ScanCtx};
use crate::engine::stream::{BatchSink, Stream};
use crate::engine::window::Window;
use crate::engine::FileResult;
use crate::error::Error;
use crate::input::gzip::{Compressed, MemberReader};
use crate::input::Format;
use crate::remote::Download;

/// URL inputs whose place in the window has come, waiting for the thread that starts
/// their downloads, and the window's places still in use.
#[derive(Default)]
pub(super) struct Downloads {
    pub(super) state: Mutex<DownloadQueue>,
    pub(super) wake: Condvar,
}

#[derive(Default)]
pub(super) struct DownloadQueue {
    pub(super) waiting: VecDeque<usize>,
    /// Window places that may still open an input; none left means no more downloads.
    pub(super) places: usize,
}

impl Downloads {
    /// No input waiting yet; `places` in the window.
    pub(super) fn new(places: usize) -> Downloads {
        Downloads {
            state: Mutex::new(DownloadQueue {
                waiting: VecDeque::new(),
                places,
            }),
            wake: Condvar::new(),
        }
    }
}

impl<'a> Run<'a> {
    /// Starts a thread for each URL input whose place in the window comes, until no place
    /// is left: runs on the caller's thread, outside the pool.
    pub(in crate::engine) fn start_downloads<'s, 'r, 't>(
        &'s self,
        threads: &'t std::thread::Scope<'t, '_>,
        scope: &'r rayon::Scope<'s>,
    ) where
        's: 't,
        'r: 't,
    {
        loop {
            let mut queue = self
                .downloads
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            while queue.waiting.is_empty() && queue.places > 0 {
                queue = self
                    .downloads
                    .wake
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            let Some(index) = queue.waiting.pop_front() else {
                return;
            };
            drop(queue);
            let started = std::thread::Builder::new()
                .name("wetmr-download".into())
                .spawn_scoped(threads, move || self.stream(index, scope));
            if let Err(e) = started {
                self.fail(
                    index,
                    Error::Resources(format!("cannot start a download thread: {e}")),
                );
                self.open_next(scope);
            }
        }
    }

    /// The cached copy of input `index`, when it is a URL that `--cache-dir` holds.
    pub(super) fn cached(&self, index: usize) -> Option<PathBuf> {
        let url = self.inputs[index].remote.as_ref()?;
        self.client?.cached(url)
    }

    /// Downloads, decodes and parses URL input `index` on this thread (see [`stream`]),
    /// settles it, and gives its place to the next input.
    pub(super) fn stream<'s>(&'s self, index: usize, scope: &rayon::Scope<'s>) {
        let input = &self.inputs[index];
        let path = &input.path;
        let (Some(url), Some(client)) = (&input.remote, self.client) else {
            let error = Error::Usage(format!("{}: URL inputs need a client", url_name(path)));
            self.fail(index, error);
            return self.open_next(scope);
        };
        let unreadable = |what: String| {
            let skipped = FileResult::skipped_whole(path, None, 0, what.clone());
            let error = Error::Download {
                url: url_name(path),
                what,
            };
            (error, skipped)
        };
        let download = match Download::open(client, url) {
            Ok(download) => download,
            Err(what) => {
                let (error, skipped) = unreadable(what);
                return self.unusable(index, error, skipped, scope);
            }
        };
        let total = download.total();
        let mut stream = Stream::new(download);
        let head = match stream.bytes_from(0, 0) {
            Ok((bytes, _)) => bytes[..bytes.len().min(16)].to_vec(),
            Err(what) => {
                let (error, skipped) = unreadable(what);
                return self.unusable(index, error, skipped, scope);
            }
        };
        let format = Format::sniff(&head);
        if let Some((error, skipped)) = foreign(path, &head, total.unwrap_or(0)) {
            return self.unusable(index, error, skipped, scope);
        }
        let ctx = ScanCtx {
            policy: self.job.policy,
            file: index,
            failing_file: &self.failing_file,
            abandon: &self.control.abandon,
            progress: Some(&self.control.progress),
        };
        let mut sink = BatchSink::new(self, scope, index);
        let mut window = Window::default();
        let end = total.map_or(usize::MAX, |t| t as usize);
        let mut outcome = match format {
            Format::Gzip => {
                let mut reader = MemberReader::over(&mut stream, 0);
                scan::scan_window(&mut reader, &[0], 0, end, &ctx, &mut sink, &mut window)
            }
            Format::Plain => {
                let mut reader = PlainReader::new(&mut stream);
                scan::scan_window(&mut reader, &[0], 0, end, &ctx, &mut sink, &mut window)
            }
        };
        let (tokens, languages) = sink.finish();
        outcome.counters.tokens += tokens;
        outcome.languages.merge(&languages);
        let download = stream.reader();
        let mut result = FileResult::new(path);
        result.format = Some(format);
        result.bytes_in = download.total().unwrap_or(download.received());
        result.download = Some(download.stats.clone());
        drop(stream);
        let cancelled = outcome.cancelled;
        let (failure, _) = tally_file(&mut result, &[outcome], self.job.policy);
        if let Some(damage) = failure {
            self.fail(
                index,
                Error::Damaged {
                    path: path.clone(),
                    damage,
                },
            );
        } else if !cancelled {
            self.settled(index, result);
        }
        self.open_next(scope);
    }
}

/// A URL input's name, for errors.
pub(super) fn url_name(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
