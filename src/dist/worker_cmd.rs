//! `wetmr worker`: the worker daemon. A thin driver: the mio loop ([`Net`]) feeds the
//! protocol state machine ([`Worker`]) and carries out its actions; CPU work runs on the
//! rayon pool and comes back through a channel and the poll's waker.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::Interest;

use super::machines::parse_machine;
use super::serve;
use super::tasks::{self, Tables};
use crate::count_cmd::thread_pool;
use crate::engine;
use crate::error::{Error, Result};
use crate::net::conns::{ConnId, Net, NetEvent, EXTRA};
use crate::net::frame::Outgoing;
use crate::protocol::kept::KeptConfig;
use crate::protocol::messages::{Failure, JobSpec};
use crate::protocol::worker::{micros, Action, Completion, Dest, MapOrder, Worker};
use crate::remote::{Client, RemoteUrl};

/// A resolved `wetmr worker` command line.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub listen: String,
    pub threads: usize,
    /// Map tasks run at once.
    pub slots: u32,
    /// Memory budget and spill directory of the kept map outputs.
    pub kept: KeptConfig,
    /// The cluster's secret, if any (`--secret-file`).
    pub secret_file: Option<std::path::PathBuf>,
    /// Read only files under this directory (`--input-root`).
    pub input_root: Option<PathBuf>,
    /// Listen on a non-loopback address without a secret.
    pub insecure: bool,
    pub quiet: bool,
    /// How long a map may make no progress before it is reported stalled.
    pub stall_timeout: Duration,
}

/// Main-pool threads per merge thread.
const MERGE_THREAD_PER: usize = 4;

/// Serves jobs until SIGTERM or SIGINT. Prints the bound address on stdout (one line) once
/// it listens, so that scripts (and `wetmr cluster`) can use port 0.
pub fn serve(config: &WorkerConfig) -> Result<()> {
    let addr = parse_machine(&config.listen)
        .map_err(|e| Error::Usage(format!("--listen {}: {e}", config.listen)))?;
    let secret = config
        .secret_file
        .as_deref()
        .map(crate::net::auth::load_secret)
        .transpose()?;
    let input_root = match &config.input_root {
        None => None,
        Some(dir) => Some(Arc::from(tasks::input_root(dir).map_err(Error::Usage)?)),
    };
    if secret.is_none() && !addr.ip().is_loopback() && !config.insecure {
        return Err(Error::Usage(format!(
            "--listen {addr}: not a loopback address, and no --secret-file: anyone who can \
             reach it could make this worker read files; give the cluster's secret (wetmr \
             keygen), or --insecure to run without one"
        )));
    }
    raise_open_files_limit();
    let listener = mio::net::TcpListener::bind(addr)
        .map_err(|e| Error::Usage(format!("cannot listen on {addr}: {e}")))?;
    let merge_threads = config.threads.div_ceil(MERGE_THREAD_PER);
    crate::malloc::share_heaps(config.threads + merge_threads);
    let pool = Arc::new(thread_pool(config.threads, "worker")?);
    // Received partitions are merged on threads of their own: on the main pool they would
    // wait for the running maps to end (a busy rayon pool takes spawned work last), and so
    // would the acknowledgements, the tasks' ends and the buddy copies behind them.
    let merge_pool = thread_pool(merge_threads, "merge")?;
    let authenticated = secret.is_some();
    let net = Net::new(Some(listener), secret).map_err(Error::Net)?;
    // A spill directory that cannot take the file fails now, not in the middle of a job.
    let spill_dir = &config.kept.spill_dir;
    tempfile::tempfile_in(spill_dir).map_err(|e| {
        Error::Usage(format!(
            "--spill-dir {}: cannot create a file there: {e}",
            crate::error::shown(spill_dir)
        ))
    })?;

    // SIGTERM and SIGINT write to a socket pair that the loop polls.
    let (sig_read, sig_write) = std::os::unix::net::UnixStream::pair().map_err(Error::Net)?;
    sig_read.set_nonblocking(true).map_err(Error::Net)?;
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let write = sig_write.try_clone().map_err(Error::Net)?;
        signal_hook::low_level::pipe::register(signal, write).map_err(Error::Net)?;
    }
    let mut sig_read = mio::net::UnixStream::from_std(sig_read);
    net.registry()
        .register(&mut sig_read, EXTRA, Interest::READABLE)
        .map_err(Error::Net)?;

    let local = net.local_addr().unwrap_or(addr);
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{local}").and_then(|()| out.flush());
    }
    let log = |line: &str| {
        if !config.quiet {
            eprintln!("wetmr worker {local}: {line}");
        }
    };
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    log(&format!(
        "listening, {}, {}; kept map outputs: {} MiB in memory, then spilled to {}; {}",
        plural(config.threads, "thread"),
        plural(config.slots as usize, "slot"),
        config.kept.memory >> 20,
        crate::error::shown(spill_dir),
        if authenticated {
            "connections authenticated with the cluster's secret"
        } else {
            "no secret: connections are not authenticated"
        }
    ));

    let (done_tx, done_rx) = mpsc::channel::<Completion>();
    let mut worker =
        Worker::new(config.threads as u32, config.slots).with_kept(config.kept.clone());
    let mut driver = Driver {
        net,
        pool,
        client: None,
        quiet: config.quiet,
        merge_pool,
        done_tx,
        tables: Arc::new(Vec::new()),
        peers: HashMap::new(),
        maps: HashMap::new(),
        stall_timeout: config.stall_timeout,
        input_root,
        events: Vec::new(),
    };
    loop {
        if driver.events.is_empty() {
            let wake = [worker.next_deadline(), driver.next_stall_check()]
                .into_iter()
                .flatten()
                .min();
            let timeout = wake.map(|at| at.saturating_duration_since(Instant::now()));
            driver
                .net
                .poll(timeout, &mut driver.events)
                .map_err(Error::Net)?;
        }
        let now = Instant::now();
        worker.tick(now);
        driver.watch_maps(&mut worker, now);
        for event in std::mem::take(&mut driver.events) {
            match event {
                NetEvent::Accepted(..) | NetEvent::Connected(_) => {}
                NetEvent::Rejected(peer, reason) => {
                    worker.rejected(&peer.to_string(), &reason, Instant::now());
                }
                NetEvent::Frame(id, frame) => worker.frame(id, frame, Instant::now()),
                NetEvent::Closed(id, reason) => {
                    if let Some(peer) = driver.forget_peer(id) {
                        if worker.job_id().is_some() {
                            worker.peer_unreachable(peer, &reason);
                        }
                    }
                    worker.closed(id);
                }
                NetEvent::Woken => {
                    while let Ok(done) = done_rx.try_recv() {
                        if let Completion::Mapped {
                            job, task, attempt, ..
                        } = done
                        {
                            let map = driver.maps.remove(&(job, task, attempt));
                            if let Some(map) = map.filter(|m| m.abandoned() && !m.stalled) {
                                log(&format!(
                                    "task {task} attempt {attempt}: map abandoned after {:.1} \
                                     MB (another copy won, or its job ended)",
                                    map.control.progress.load(Ordering::Relaxed) as f64 / 1e6
                                ));
                            }
                        }
                        worker.complete(done, Instant::now());
                    }
                }
                NetEvent::Extra => {
                    let mut buf = [0u8; 64];
                    while matches!(sig_read.read(&mut buf), Ok(n) if n > 0) {}
                    log("signal received: shutting down");
                    driver.net.close_listener();
                    driver.net.close_all(&mut Vec::new());
                    return Ok(());
                }
            }
        }
        while let Some(action) = worker.poll_action() {
            match action {
                Action::Log(line) => log(&line),
                other => driver.carry_out(other, &mut worker),
            }
        }
    }
}

/// Raises the soft limit on open files to the hard one: a worker holds up to
/// [`crate::net::conns::MAX_CONNS`] connections besides its input and spill files.
pub fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: both calls only read or write the struct given, which outlives them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The worker loop's state besides the protocol machine.
struct Driver {
    net: Net,
    /// Maps and ranking; shared with the threads of URL maps, which count on it.
    pool: Arc<rayon::ThreadPool>,
    /// What fetches URL tasks, for the job it was made for: one per job, so that its
    /// maps share one limit on concurrent downloads.
    client: Option<(u64, Arc<Client>)>,
    /// Log nothing but errors (download retries included).
    quiet: bool,
    /// Merges of received partitions.
    merge_pool: rayon::ThreadPool,
    done_tx: mpsc::Sender<Completion>,
    tables: Arc<Tables>,
    /// Connections to the job's other workers, by their index.
    peers: HashMap<u32, ConnId>,
    /// The maps under way, by (job, task, attempt), watched for progress.
    maps: HashMap<(u64, u32, u32), MapWatch>,
    /// How long a map may hold threads without progress before it is reported stalled.
    stall_timeout: Duration,
    /// `--input-root`, resolved.
    input_root: Option<Arc<Path>>,
    events: Vec<NetEvent>,
}

/// A map under way, watched for progress.
struct MapWatch {
    control: Arc<engine::Control>,
    path: PathBuf,
    /// The progress last seen, and since when it has not changed.
    seen: u64,
    since: Instant,
    /// Reported stalled already.
    stalled: bool,
}

impl MapWatch {
    fn abandoned(&self) -> bool {
        self.control.abandon.load(Ordering::Relaxed)
    }
}

impl Driver {
    fn abandon_maps(&self) {
        for map in self.maps.values() {
            map.control.abandon.store(true, Ordering::Relaxed);
        }
    }

    /// Reports the maps that hold threads but made no progress for the stall timeout. A
    /// map that holds no thread (waiting for the pool, behind another map's chunks) is
    /// not stalled.
    fn watch_maps(&mut self, worker: &mut Worker, now: Instant) {
        for (&key, map) in &mut self.maps {
            let progress = map.control.progress.load(Ordering::Relaxed);
            let busy = map.control.busy.load(Ordering::Relaxed);
            if progress != map.seen || busy == 0 {
                map.seen = progress;
                map.since = now;
                continue;
            }
            let still = now.saturating_duration_since(map.since);
            if !map.stalled && still >= self.stall_timeout {
                map.stalled = true;
                map.control.abandon.store(true, Ordering::Relaxed);
                let what = crate::error::shown(&map.path).to_string();
                worker.map_stalled(key, busy as u32, what, still, now);
            }
        }
    }

    /// Where to fetch a task's file from when the coordinator serves it (`--serve-inputs`):
    /// its port, on the address this worker's coordinator connection comes from.
    fn served_url(&self, order: &MapOrder, worker: &Worker) -> Option<String> {
        let served = order.job.served.as_ref()?;
        let local = order.path.to_str().is_none_or(|p| !RemoteUrl::is_url(p));
        let coordinator = self.net.peer(worker.coordinator()?)?;
        local.then(|| serve::task_url(coordinator.ip(), served.port, &served.token, order.task))
    }

    /// The client of `job`'s URL maps, made at its first.
    fn client_for(&mut self, job: &JobSpec) -> Arc<Client> {
        match &self.client {
            Some((id, client)) if *id == job.job => client.clone(),
            _ => {
                let client = Arc::new(Client::new(job.downloads.settings(!self.quiet)));
                self.client = Some((job.job, client.clone()));
                client
            }
        }
    }

    /// When [`Driver::watch_maps`] may next find a map stalled.
    fn next_stall_check(&self) -> Option<Instant> {
        self.maps
            .values()
            .filter(|m| !m.stalled)
            .map(|m| m.since + self.stall_timeout)
            .min()
    }

    fn carry_out(&mut self, action: Action, worker: &mut Worker) {
        match action {
            Action::Send(Dest::Conn(id), frame) => self.net.send(id, frame),
            Action::Send(Dest::Peer(peer), frame) => match self.peer_conn(peer, worker) {
                Ok(id) => self.net.send(id, frame),
                Err(reason) => worker.peer_unreachable(peer, &reason),
            },
            Action::Close(id) => self.net.close(id, &mut self.events),
            Action::Map(order) => {
                let (tx, waker) = (self.done_tx.clone(), self.net.waker());
                let control = Arc::new(engine::Control::default());
                let key = (order.job.job, order.task, order.attempt);
                let watch = MapWatch {
                    control: control.clone(),
                    path: order.path.clone(),
                    seen: 0,
                    since: Instant::now(),
                    stalled: false,
                };
                self.maps.insert(key, watch);
                let root = self.input_root.clone();
                let mut order = order;
                if let Some(served) = self.served_url(&order, worker) {
                    order.path = served.into();
                }
                let url = order
                    .path
                    .to_str()
                    .filter(|p| RemoteUrl::is_url(p))
                    .is_some();
                let fetch = url.then(|| (self.pool.clone(), self.client_for(&order.job)));
                let map = move || {
                    let started = Instant::now();
                    let (job, task, attempt, path) =
                        (&order.job, order.task, order.attempt, &order.path);
                    let fetch = fetch.as_ref().map(|(pool, client)| (&**pool, &**client));
                    let result =
                        tasks::confine(path, root.as_deref(), fetch.is_some()).and_then(|path| {
                            tasks::map_file(job, task, attempt, &path, &control, fetch)
                        });
                    let _ = tx.send(Completion::Mapped {
                        job: order.job.job,
                        task: order.task,
                        attempt: order.attempt,
                        micros: micros(started.elapsed()),
                        result,
                    });
                    let _ = waker.wake();
                };
                if url {
                    // A download waits on the network, not on the pool: its map runs on a
                    // thread of its own, and counts on the pool.
                    let spawned = std::thread::Builder::new()
                        .name("wetmr-url-map".into())
                        .spawn(map);
                    if let Err(e) = spawned {
                        let _ = self.done_tx.send(Completion::Mapped {
                            job: key.0,
                            task: key.1,
                            attempt: key.2,
                            micros: 0,
                            result: Err((Failure::Fatal, format!("cannot start a thread: {e}"))),
                        });
                    }
                } else {
                    self.pool.spawn(map);
                }
            }
            Action::Merge(order) => {
                let job = worker.job_id().unwrap_or_default();
                let (tx, waker, tables) =
                    (self.done_tx.clone(), self.net.waker(), self.tables.clone());
                self.merge_pool.spawn(move || {
                    let result = tasks::merge(&tables, &order);
                    let _ = tx.send(Completion::Merged {
                        job,
                        from: order.from,
                        head: order.head,
                        result,
                    });
                    let _ = waker.wake();
                });
            }
            Action::Rank {
                job,
                owned,
                min_count,
                top,
            } => {
                let (tx, waker, tables) =
                    (self.done_tx.clone(), self.net.waker(), self.tables.clone());
                self.pool.spawn(move || {
                    let frames = tasks::rank(&tables, job, &owned, min_count, top);
                    let _ = tx.send(Completion::Ranked { job, frames });
                    let _ = waker.wake();
                });
            }
            Action::Abandon { job, task, attempt } => {
                if let Some(map) = self.maps.get(&(job, task, attempt)) {
                    map.control.abandon.store(true, Ordering::Relaxed);
                }
            }
            Action::Prepare { partitions, .. } => {
                // A new job: whatever the last one still maps is abandoned.
                self.abandon_maps();
                self.tables = Arc::new((0..partitions).map(|_| Mutex::default()).collect());
                self.close_peers();
            }
            Action::Release => {
                // A job that ends abandons what it still maps (its maps stop at their next
                // record; a stalled one, when its read returns).
                self.abandon_maps();
                self.tables = Arc::new(Vec::new());
                self.close_peers();
            }
            Action::Pause(id) => self.net.pause(id, true),
            Action::Resume(id) => self.net.pause(id, false),
            Action::Log(_) => {}
        }
    }

    /// The connection to the job's worker `peer`, opened (with a peer Hello) on first use.
    fn peer_conn(&mut self, peer: u32, worker: &Worker) -> std::result::Result<ConnId, String> {
        if let Some(&id) = self.peers.get(&peer) {
            return Ok(id);
        }
        let addr_text = worker.peer_address(peer).ok_or("no such worker")?;
        // Checked when it arrived (a socket address, no name to resolve).
        let addr: SocketAddr = addr_text.parse().map_err(|_| "not a socket address")?;
        let id = self.net.connect(addr).map_err(|e| e.to_string())?;
        if let Some(hello) = worker.peer_hello() {
            self.net.send(id, Outgoing::new(hello));
        }
        self.peers.insert(peer, id);
        Ok(id)
    }

    fn forget_peer(&mut self, id: ConnId) -> Option<u32> {
        let peer = self.peers.iter().find(|(_, &c)| c == id).map(|(&p, _)| p)?;
        self.peers.remove(&peer);
        Some(peer)
    }

    fn close_peers(&mut self) {
        for (_, id) in std::mem::take(&mut self.peers) {
            self.net.close(id, &mut self.events);
        }
    }
}
