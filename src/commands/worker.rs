//! `wetmr worker`: the worker daemon. A thin driver: the mio loop ([`Net`]) feeds the
//! protocol state machine ([`Worker`]), and the [`Executor`] carries out its actions; CPU
//! work runs on the rayon pools and comes back through a channel and the poll's waker.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use mio::Interest;

use crate::cluster::executor::{Executor, ExecutorConfig, Place, Runner, Transport, Work};
use crate::cluster::machines::parse_machine;
use crate::cluster::tasks;
use crate::config::WorkerConfig;
use crate::engine::thread_pool;
use crate::error::{Error, Result};
use crate::net::conns::{ConnId, Net, NetEvent, EXTRA};
use crate::net::frame::Outgoing;
use crate::protocol::worker::{Action, Completion, Worker};

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
    let spill_dir = &config.spill_dir;
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
        config.kept_memory >> 20,
        crate::error::shown(spill_dir),
        if authenticated {
            "connections authenticated with the cluster's secret"
        } else {
            "no secret: connections are not authenticated"
        }
    ));

    let (done_tx, done_rx) = mpsc::channel::<Completion>();
    let mut worker =
        Worker::new(config.threads as u32, config.slots).with_kept_memory(config.kept_memory);
    let mut executor = Executor::new(ExecutorConfig {
        pool: pool.clone(),
        input_root,
        stall_timeout: config.stall_timeout,
        quiet: config.quiet,
        spill_dir: spill_dir.clone(),
    });
    let mut net = Wire {
        net,
        events: Vec::new(),
    };
    let mut runner = Pools {
        pool,
        merge_pool,
        disk: thread_pool(1, "spill")?,
        done_tx,
        waker: net.net.waker(),
    };
    loop {
        if net.events.is_empty() {
            let wake = [worker.next_deadline(), executor.next_stall_check()]
                .into_iter()
                .flatten()
                .min();
            let timeout = wake.map(|at| at.saturating_duration_since(Instant::now()));
            net.net.poll(timeout, &mut net.events).map_err(Error::Net)?;
        }
        let now = Instant::now();
        worker.tick(now);
        executor.watch_maps(&mut worker, now);
        for event in std::mem::take(&mut net.events) {
            match event {
                NetEvent::Accepted(..) | NetEvent::Connected(_) => {}
                NetEvent::Rejected(peer, reason) => {
                    worker.rejected(&peer.to_string(), &reason, Instant::now());
                }
                NetEvent::Frame(id, frame) => worker.frame(id, frame, Instant::now()),
                NetEvent::Closed(id, reason) => executor.closed(id, &reason, &mut worker),
                NetEvent::Woken => {
                    while let Ok(done) = done_rx.try_recv() {
                        if let Some(line) = executor.completed(&done) {
                            log(&line);
                        }
                        worker.complete(done, Instant::now());
                    }
                }
                NetEvent::Extra => {
                    let mut buf = [0u8; 64];
                    while matches!(sig_read.read(&mut buf), Ok(n) if n > 0) {}
                    log("signal received: shutting down");
                    net.net.close_listener();
                    net.net.close_all(&mut Vec::new());
                    return Ok(());
                }
            }
        }
        while let Some(action) = worker.poll_action() {
            match action {
                Action::Log(line) => log(&line),
                other => executor.carry_out(other, &mut worker, &mut net, &mut runner),
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

/// The daemon's network: the mio connections, and the events their changes make.
struct Wire {
    net: Net,
    events: Vec<NetEvent>,
}

impl Transport for Wire {
    fn send(&mut self, conn: ConnId, frame: Outgoing) {
        self.net.send(conn, frame);
    }

    fn close(&mut self, conn: ConnId) {
        self.net.close(conn, &mut self.events);
    }

    fn connect(&mut self, addr: &str) -> std::result::Result<ConnId, String> {
        // Checked when it arrived (a socket address, no name to resolve).
        let addr: SocketAddr = addr.parse().map_err(|_| "not a socket address")?;
        self.net.connect(addr).map_err(|e| e.to_string())
    }

    fn pause(&mut self, conn: ConnId, paused: bool) {
        self.net.pause(conn, paused);
    }

    fn peer_ip(&self, conn: ConnId) -> Option<std::net::IpAddr> {
        self.net.peer(conn).map(|a| a.ip())
    }
}

/// The daemon's threads: work completes through a channel, and wakes the event loop.
struct Pools {
    /// Maps and ranking (and the counting of URL maps).
    pool: Arc<rayon::ThreadPool>,
    /// Merges of received partitions.
    merge_pool: rayon::ThreadPool,
    /// The spill file's writes and reads, one at a time, in order.
    disk: rayon::ThreadPool,
    done_tx: mpsc::Sender<Completion>,
    waker: Arc<mio::Waker>,
}

impl Runner for Pools {
    fn run(&mut self, place: Place, work: Work) -> std::result::Result<(), String> {
        let (tx, waker) = (self.done_tx.clone(), self.waker.clone());
        let job = move || {
            let _ = tx.send(work());
            let _ = waker.wake();
        };
        match place {
            Place::Pool => self.pool.spawn(job),
            Place::Merge => self.merge_pool.spawn(job),
            Place::Disk => self.disk.spawn_fifo(job),
            Place::Thread => {
                std::thread::Builder::new()
                    .name("wetmr-url-map".into())
                    .spawn(job)
                    .map_err(|e| format!("cannot start a thread: {e}"))?;
            }
        }
        Ok(())
    }
}
