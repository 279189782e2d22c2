//! Carrying out the worker state machine's actions: the one place that turns [`Action`]s
//! into frames on connections, connections to peers, CPU work and the spill file's I/O,
//! for the `wetmr worker` daemon (over mio, on rayon pools) and for the simulated cluster
//! of the tests (over an in-memory router, on a seeded queue) alike. What differs between the
//! two sits behind two small traits: [`Transport`] (the network) and [`Runner`] (where
//! work runs). Everything else — which connection a peer's frames take, the tables a job's
//! merges fill, which maps a job's end or a won backup abandons, which maps are stalled —
//! is decided here, once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::serve;
use super::spill::{SpillError, SpillFile};
use super::tasks::{self, Tables};
use crate::engine;
use crate::net::frame::Outgoing;
use crate::protocol::ids::{Attempt, JobId, Member, PartitionId, TaskId};
use crate::protocol::kept::Found;
use crate::protocol::messages::{Failure, JobSpec, MapReading};
use crate::protocol::worker::{micros, Action, Completion, ConnId, Dest, MapOrder, Worker};
use crate::remote::{Client, RemoteUrl};

/// The network, as the worker's actions need it.
pub trait Transport {
    /// Queues a frame on an open connection.
    fn send(&mut self, conn: ConnId, frame: Outgoing);
    /// Closes a connection once what is queued on it has gone. Its close comes back as an
    /// event ([`Executor::closed`]).
    fn close(&mut self, conn: ConnId);
    /// Opens a connection to a peer, at a socket address as the job gives it.
    fn connect(&mut self, addr: &str) -> Result<ConnId, String>;
    /// Stops reading a connection, or reads it again.
    fn pause(&mut self, conn: ConnId, paused: bool);
    /// The address a connection comes from.
    fn peer_ip(&self, conn: ConnId) -> Option<IpAddr>;
}

/// Where a piece of work runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The counting pool (maps of local files, ranking).
    Pool,
    /// The merge threads: received partitions are merged there, so that their
    /// acknowledgements never wait behind running maps.
    Merge,
    /// A thread of its own: a map that downloads waits on the network, not on the pool
    /// (it counts on the pool).
    Thread,
    /// The spill file's thread: writes and reads of kept outputs, in the order given.
    Disk,
}

/// A piece of CPU work; its completion goes back to [`Worker::complete`] (and to
/// [`Executor::completed`]).
pub type Work = Box<dyn FnOnce() -> Completion + Send>;

/// Where work runs: rayon pools and a channel back to the event loop in the daemon, a
/// seeded queue in the simulation.
pub trait Runner {
    /// Starts `work` (an error: it could not be, e.g. no thread could be made).
    fn run(&mut self, place: Place, work: Work) -> Result<(), String>;
}

/// What the executor needs to know of the worker it serves.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// The pool URL maps count on (from their own threads).
    pub pool: Arc<rayon::ThreadPool>,
    /// `--input-root`, resolved.
    pub input_root: Option<Arc<Path>>,
    /// How long a map may hold threads without progress before it is reported stalled.
    pub stall_timeout: Duration,
    /// Log nothing but errors (download retries included).
    pub quiet: bool,
    /// Where the jobs' spill files are made (`--spill-dir`).
    pub spill_dir: PathBuf,
}

/// The worker's resources besides the protocol machine: the job's tables, its connections
/// to peers, the maps under way and what fetches URL tasks.
pub struct Executor {
    config: ExecutorConfig,
    /// The current job's partition tables, filled by merges and read by ranking.
    tables: Arc<Tables>,
    /// Connections to the job's other workers, by their index.
    peers: HashMap<Member, ConnId>,
    /// The maps under way, by (job, task, attempt), watched for progress.
    maps: HashMap<(JobId, TaskId, Attempt), MapWatch>,
    /// What fetches URL tasks, for the job it was made for: one per job, so that its
    /// maps share one limit on concurrent downloads.
    client: Option<(JobId, Arc<Client>)>,
    /// The spill file of kept outputs, for the job it was made for.
    spill: Option<(JobId, Arc<SpillFile>)>,
    /// Maps told to stop early because another copy won (Abandon).
    abandoned: u64,
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

impl Executor {
    pub fn new(config: ExecutorConfig) -> Executor {
        Executor {
            config,
            tables: Arc::new(Vec::new()),
            peers: HashMap::new(),
            maps: HashMap::new(),
            client: None,
            spill: None,
            abandoned: 0,
        }
    }

    /// Maps told to stop early because another copy won, so far.
    pub fn abandoned(&self) -> u64 {
        self.abandoned
    }

    /// Carries out one action of `worker`'s (logs are the caller's: they are not work).
    pub fn carry_out(
        &mut self,
        action: Action,
        worker: &mut Worker,
        net: &mut impl Transport,
        runner: &mut impl Runner,
    ) {
        match action {
            Action::Send(Dest::Conn(id), frame) => net.send(id, frame),
            Action::Send(Dest::Peer(peer), frame) => match self.peer_conn(peer, worker, net) {
                Ok(id) => net.send(id, frame),
                Err(reason) => worker.peer_unreachable(peer, &reason),
            },
            Action::Close(id) => net.close(id),
            Action::Map(order) => self.map(order, worker, net, runner),
            Action::Merge(order) => {
                let job = worker.job_id().unwrap_or_default();
                let tables = self.tables.clone();
                self.start(
                    runner,
                    Place::Merge,
                    Box::new(move || Completion::Merged {
                        job,
                        from: order.from,
                        head: order.head,
                        result: tasks::merge(&tables, &order),
                    }),
                );
            }
            Action::Rank {
                job,
                owned,
                min_count,
                top,
            } => {
                let tables = self.tables.clone();
                self.start(
                    runner,
                    Place::Pool,
                    Box::new(move || Completion::Ranked {
                        job,
                        frames: tasks::rank(&tables, job, &owned, min_count, top),
                    }),
                );
            }
            Action::Spill { job, frames } => {
                let spill = self.spill_for(job);
                self.start(
                    runner,
                    Place::Disk,
                    Box::new(move || Completion::Spilled {
                        job,
                        offsets: frames.iter().map(|(offset, _)| *offset).collect(),
                        result: spill.write(&frames).map_err(|e| e.to_string()),
                    }),
                );
            }
            Action::Load(order) => {
                let spill = self.spill_for(order.job);
                self.start(
                    runner,
                    Place::Disk,
                    Box::new(move || Completion::Loaded {
                        job: order.job,
                        task: order.task,
                        attempt: order.attempt,
                        then: order.then,
                        frames: load(&spill, order.frames).map_err(|e| e.to_string()),
                    }),
                );
            }
            Action::Abandon { job, task, attempt } => {
                if let Some(map) = self.maps.get(&(job, task, attempt)) {
                    self.abandoned += u64::from(!map.abandoned());
                    map.control.abandon.store(true, Ordering::Relaxed);
                }
            }
            Action::Prepare { partitions, .. } => {
                // A new job: whatever the last one still maps is abandoned.
                self.abandon_maps();
                self.tables = Arc::new((0..partitions).map(|_| Mutex::default()).collect());
                self.close_peers(net);
            }
            Action::Release => {
                // A job that ends abandons what it still maps (its maps stop at their next
                // record; a stalled one, when its read returns).
                self.abandon_maps();
                self.tables = Arc::new(Vec::new());
                self.spill = None;
                self.close_peers(net);
            }
            Action::Pause(id) => net.pause(id, true),
            Action::Resume(id) => net.pause(id, false),
            Action::Log(_) => {}
        }
    }

    /// A connection closed (either side, any reason): a peer's partitions may have been
    /// lost with it.
    pub fn closed(&mut self, id: ConnId, reason: &str, worker: &mut Worker) {
        if let Some(peer) = self.forget_peer(id) {
            if worker.job_id().is_some() {
                worker.peer_unreachable(peer, reason);
            }
        }
        worker.closed(id);
    }

    /// A piece of work completed: the map it was, if any, is no longer watched. Returns a
    /// line to log for a map that was abandoned.
    pub fn completed(&mut self, done: &Completion) -> Option<String> {
        let Completion::Mapped {
            job, task, attempt, ..
        } = *done
        else {
            return None;
        };
        let map = self.maps.remove(&(job, task, attempt))?;
        (map.abandoned() && !map.stalled).then(|| {
            let mb = map.control.progress.load(Ordering::Relaxed) as f64 / 1e6;
            format!(
                "task {task} attempt {attempt}: map abandoned after {mb:.1} MB (another copy \
                 won, or its job ended)"
            )
        })
    }

    /// Reports the maps that hold threads but made no progress for the stall timeout. A
    /// map that holds no thread (waiting for the pool, behind another map's chunks) is
    /// not stalled.
    pub fn watch_maps(&mut self, worker: &mut Worker, now: Instant) {
        if let Some(job) = worker.job_id() {
            let reading = (self.maps.iter())
                .filter(|((j, ..), _)| *j == job)
                .map(|(&(_, task, attempt), map)| MapReading {
                    task,
                    attempt,
                    bytes: map.control.progress.load(Ordering::Relaxed),
                })
                .collect();
            worker.maps_read(job, reading);
        }
        for (&key, map) in &mut self.maps {
            let progress = map.control.progress.load(Ordering::Relaxed);
            let busy = map.control.busy.load(Ordering::Relaxed);
            if progress != map.seen || busy == 0 {
                map.seen = progress;
                map.since = now;
                continue;
            }
            let still = now.saturating_duration_since(map.since);
            if !map.stalled && still >= self.config.stall_timeout {
                map.stalled = true;
                map.control.abandon.store(true, Ordering::Relaxed);
                let what = crate::error::shown(&map.path).to_string();
                worker.map_stalled(key, busy as u32, what, still, now);
            }
        }
    }

    /// When [`Executor::watch_maps`] may next find a map stalled.
    pub fn next_stall_check(&self) -> Option<Instant> {
        self.maps
            .values()
            .filter(|m| !m.stalled)
            .map(|m| m.since + self.config.stall_timeout)
            .min()
    }

    /// Starts work that is not a map: it cannot fail to start on a pool.
    fn start(&mut self, runner: &mut impl Runner, place: Place, work: Work) {
        let _ = runner.run(place, work);
    }

    fn map(
        &mut self,
        order: MapOrder,
        worker: &mut Worker,
        net: &impl Transport,
        runner: &mut impl Runner,
    ) {
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
        let root = self.config.input_root.clone();
        let mut order = order;
        if let Some(served) = served_url(&order, worker, net) {
            order.path = served.into();
        }
        let url = order
            .path
            .to_str()
            .filter(|p| RemoteUrl::is_url(p))
            .is_some();
        let fetch = url.then(|| (self.config.pool.clone(), self.client_for(&order.job)));
        let work = move || {
            let started = Instant::now();
            let (job, task, attempt, path) = (&order.job, order.task, order.attempt, &order.path);
            let fetch = fetch.as_ref().map(|(pool, client)| (&**pool, &**client));
            let result = tasks::confine(path, root.as_deref(), fetch.is_some())
                .and_then(|path| tasks::map_file(job, task, attempt, &path, &control, fetch));
            Completion::Mapped {
                job: order.job.job,
                task: order.task,
                attempt: order.attempt,
                micros: micros(started.elapsed()),
                result,
            }
        };
        let place = if url { Place::Thread } else { Place::Pool };
        if let Err(why) = runner.run(place, Box::new(work)) {
            self.maps.remove(&key);
            let (job, task, attempt) = key;
            let done = Completion::Mapped {
                job,
                task,
                attempt,
                micros: 0,
                result: Err((Failure::Fatal, format!("cannot start a map: {why}"))),
            };
            worker.complete(done, Instant::now());
        }
    }

    /// The client of `job`'s URL maps, made at its first.
    fn client_for(&mut self, job: &JobSpec) -> Arc<Client> {
        match &self.client {
            Some((id, client)) if *id == job.job => client.clone(),
            _ => {
                let settings = job.downloads.settings(!self.config.quiet);
                let client = Arc::new(Client::new(settings));
                self.client = Some((job.job, client.clone()));
                client
            }
        }
    }

    /// The spill file of `job`, made at its first use (the file itself at its first write).
    fn spill_for(&mut self, job: JobId) -> Arc<SpillFile> {
        match &self.spill {
            Some((id, spill)) if *id == job => spill.clone(),
            _ => {
                let spill = Arc::new(SpillFile::new(self.config.spill_dir.clone()));
                self.spill = Some((job, spill.clone()));
                spill
            }
        }
    }

    fn abandon_maps(&mut self) {
        for map in self.maps.values() {
            map.control.abandon.store(true, Ordering::Relaxed);
        }
    }

    /// The connection to the job's worker `peer`, opened (with a peer Hello) on first use.
    fn peer_conn(
        &mut self,
        peer: Member,
        worker: &Worker,
        net: &mut impl Transport,
    ) -> Result<ConnId, String> {
        if let Some(&id) = self.peers.get(&peer) {
            return Ok(id);
        }
        let addr = worker.peer_address(peer).ok_or("no such worker")?;
        let id = net.connect(addr)?;
        if let Some(hello) = worker.peer_hello() {
            net.send(id, Outgoing::new(hello));
        }
        self.peers.insert(peer, id);
        Ok(id)
    }

    fn forget_peer(&mut self, id: ConnId) -> Option<Member> {
        let peer = self.peers.iter().find(|(_, &c)| c == id).map(|(&p, _)| p)?;
        self.peers.remove(&peer);
        Some(peer)
    }

    fn close_peers(&mut self, net: &mut impl Transport) {
        for (_, id) in std::mem::take(&mut self.peers) {
            net.close(id);
        }
    }
}

/// Kept frames in memory: those in the spill file read back.
fn load(
    spill: &SpillFile,
    frames: Vec<(PartitionId, Found)>,
) -> Result<Vec<(PartitionId, Outgoing)>, SpillError> {
    frames
        .into_iter()
        .map(|(p, found)| match found {
            Found::Ready(frame) => Ok((p, frame)),
            Found::OnDisk { offset, len } => Ok((p, spill.read(offset, len)?)),
        })
        .collect()
}

/// Where to fetch a task's file from when the coordinator serves it (`--serve-inputs`):
/// its port, on the address this worker's coordinator connection comes from.
fn served_url(order: &MapOrder, worker: &Worker, net: &impl Transport) -> Option<String> {
    let served = order.job.served.as_ref()?;
    let local = order.path.to_str().is_none_or(|p| !RemoteUrl::is_url(p));
    let coordinator = net.peer_ip(worker.coordinator()?)?;
    local.then(|| serve::task_url(coordinator, served.port, &served.token, order.task))
}
