//! The coordinator and worker state machines, without sockets: an in-memory router carries
//! their frames (in order on each connection, in a seeded random order across
//! connections), runs their CPU work at seeded random moments, and may duplicate frames.
//! The workers' actions are carried out by the daemon's own executor
//! (`wetmr::cluster::executor`), over the router and a seeded work queue. Whatever the seed,
//! the result must be byte for byte that of the local engine.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

mod common;

use common::Rng;

use wetmr::cluster::coordinate::merge_ranked;
use wetmr::cluster::executor::{Executor, ExecutorConfig, Place, Runner, Transport, Work};
use wetmr::engine::{self, Job, Policy};
use wetmr::net::frame::{Decoder, Frame, Outgoing};
use wetmr::output::text::write_tsv;
use wetmr::protocol::coordinator::{self, Coordinator, JobConfig, JobError, JobOutput};
use wetmr::protocol::ids::{Attempt, JobId, Machine, Member, PartitionId, TaskId};
use wetmr::protocol::messages::{self, DownloadSpec};
use wetmr::protocol::worker::{self, ConnId, Worker};
use wetmr::tokenize::TokenizerKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Node {
    Coordinator,
    Worker(usize),
}

/// One direction of a connection: frames from `from` to `to`, in order.
struct Pipe {
    from: Node,
    to: Node,
    /// An end was killed: frames are dropped.
    dead: bool,
    /// The connection's id at the receiving end (for the coordinator: the worker index).
    conn_at_to: ConnId,
    frames: VecDeque<Outgoing>,
    /// The sending worker closed it (its id there): it closes once its frames are through.
    closing: Option<ConnId>,
}

/// The simulated network: the pipes between the nodes, and the seeded dice.
struct Router {
    rng: Rng,
    duplicate_percent: u64,
    pipes: Vec<Pipe>,
    /// (node, conn id at node) → pipe index of the direction leaving node.
    outgoing: HashMap<(Node, ConnId), usize>,
    alive: Vec<bool>,
    next_conn: ConnId,
    counts: Counts,
    /// Connections a worker asked to close, carried out once its actions are.
    closes: Vec<(usize, ConnId)>,
}

impl Router {
    fn is_alive(&self, node: Node) -> bool {
        match node {
            Node::Coordinator => true,
            Node::Worker(w) => self.alive[w],
        }
    }

    /// Opens a connection from `a` (known there as `conn_at_a`) to `b`; returns its id at b.
    fn link(&mut self, a: Node, conn_at_a: ConnId, b: Node) -> ConnId {
        let conn_at_b = self.next_conn;
        self.next_conn.0 += 1;
        let dead = !self.is_alive(a) || !self.is_alive(b);
        for (from, to, conn_at_from, conn_at_to) in
            [(a, b, conn_at_a, conn_at_b), (b, a, conn_at_b, conn_at_a)]
        {
            self.pipes.push(Pipe {
                from,
                to,
                dead,
                conn_at_to,
                frames: VecDeque::new(),
                closing: None,
            });
            self.outgoing
                .insert((from, conn_at_from), self.pipes.len() - 1);
        }
        conn_at_b
    }

    fn send(&mut self, from: Node, conn: ConnId, frame: Outgoing) {
        let Some(&pipe) = self.outgoing.get(&(from, conn)) else {
            panic!("{from:?} sends on unknown connection {conn}");
        };
        if self.pipes[pipe].dead {
            return;
        }
        // A duplicated Partition (kind 8) or Task (kind 5) frame: a repeated delivery the
        // exactly-once rule must absorb.
        let kind = u16::from_le_bytes([frame[6], frame[7]]);
        if (kind == 8 || kind == 5) && self.rng.chance(self.duplicate_percent) {
            self.counts.duplicated += 1;
            self.pipes[pipe].frames.push_back(frame.clone());
        }
        self.pipes[pipe].frames.push_back(frame);
    }
}

/// Worker `w`'s view of the router: the production executor sends and connects through it.
struct WorkerLink<'a> {
    router: &'a mut Router,
    w: usize,
}

impl Transport for WorkerLink<'_> {
    fn send(&mut self, conn: ConnId, frame: Outgoing) {
        self.router.send(Node::Worker(self.w), conn, frame);
    }

    fn close(&mut self, conn: ConnId) {
        self.router.closes.push((self.w, conn));
    }

    fn connect(&mut self, addr: &str) -> Result<ConnId, String> {
        let machine = addr
            .trim_start_matches("10.0.0.")
            .trim_end_matches(":7070")
            .parse::<usize>()
            .map_err(|e| format!("{addr}: {e}"))?;
        let conn = self.router.next_conn;
        self.router.next_conn.0 += 1;
        self.router
            .link(Node::Worker(self.w), conn, Node::Worker(machine));
        Ok(conn)
    }

    // The simulated partitions are far below the workers' in-flight limit (its pausing is
    // tested on its own).
    fn pause(&mut self, _: ConnId, _: bool) {}

    fn peer_ip(&self, _: ConnId) -> Option<std::net::IpAddr> {
        None
    }
}

/// CPU work waiting to run on a worker, at a seeded random moment.
struct Queue<'a> {
    work: &'a mut Vec<(usize, Work)>,
    w: usize,
}

impl Runner for Queue<'_> {
    fn run(&mut self, _: Place, work: Work) -> Result<(), String> {
        self.work.push((self.w, work));
        Ok(())
    }
}

/// A simulated worker: the protocol machine and the production executor of its actions.
struct Node_ {
    worker: Worker,
    executor: Executor,
}

/// How a simulated worker keeps its map outputs: bytes in memory, and where it spills.
#[derive(Debug, Clone)]
struct Kept {
    memory: u64,
    spill_dir: PathBuf,
}

impl Default for Kept {
    /// Everything in memory.
    fn default() -> Kept {
        Kept {
            memory: u64::MAX,
            spill_dir: std::env::temp_dir(),
        }
    }
}

/// A fresh worker with `slots` map slots that keeps its outputs as `kept` says.
fn node(slots: u32, kept: &Kept) -> Node_ {
    static POOL: OnceLock<Arc<rayon::ThreadPool>> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
        Arc::new(pool.unwrap())
    });
    Node_ {
        worker: Worker::new(1, slots).with_kept_memory(kept.memory),
        executor: Executor::new(ExecutorConfig {
            pool: pool.clone(),
            input_root: None,
            stall_timeout: std::time::Duration::from_secs(3600),
            quiet: true,
            spill_dir: kept.spill_dir.clone(),
        }),
    }
}

struct Sim {
    /// Named in a stall report, to replay it with `WETMR_CHAOS_SEED`.
    seed: u64,
    coordinator: Coordinator,
    nodes: Vec<Node_>,
    net: Router,
    work: Vec<(usize, Work)>,
    logs: Vec<String>,
    slots: u32,
    /// Each worker's budget and spill directory for its kept map outputs.
    kept: Vec<Kept>,
    /// Steps in a row with nothing to deliver or run.
    idle: usize,
    /// Simulated time: one millisecond per step.
    clock: Instant,
    start: Instant,
}

impl Sim {
    fn new(seed: u64, workers: usize, slots: u32, config: JobConfig, files: Vec<PathBuf>) -> Sim {
        Sim::with_absent(seed, workers, slots, config, files, &[])
    }

    /// A job whose `absent` workers are not running when it starts.
    fn with_absent(
        seed: u64,
        workers: usize,
        slots: u32,
        config: JobConfig,
        files: Vec<PathBuf>,
        absent: &[usize],
    ) -> Sim {
        let addresses = (0..workers).map(|w| format!("10.0.0.{w}:7070")).collect();
        let now = Instant::now();
        let mut sim = Sim {
            seed,
            coordinator: Coordinator::new(config, addresses, files, now),
            nodes: (0..workers)
                .map(|_| node(slots, &Kept::default()))
                .collect(),
            net: Router {
                rng: Rng(seed),
                duplicate_percent: 0,
                pipes: Vec::new(),
                outgoing: HashMap::new(),
                alive: vec![true; workers],
                next_conn: ConnId(100),
                counts: Counts::default(),
                closes: Vec::new(),
            },
            work: Vec::new(),
            logs: Vec::new(),
            slots,
            kept: vec![Kept::default(); workers],
            idle: 0,
            clock: now,
            start: now,
        };
        for &w in absent {
            sim.net.alive[w] = false;
        }
        for w in 0..workers {
            sim.connect_coordinator(w);
        }
        sim
    }

    /// The coordinator opens a connection to worker `w` (it names it by the worker's index;
    /// the worker by an id): greeted if the worker runs, refused if not.
    fn connect_coordinator(&mut self, w: usize) {
        if self.net.alive[w] {
            self.net
                .link(Node::Coordinator, ConnId(w as u64), Node::Worker(w));
            self.coordinator.connected(Machine(w));
        } else {
            self.coordinator.lost(Machine(w), "connection refused");
        }
    }

    /// Worker `w` keeps its map outputs as `kept` says (before the job starts).
    fn keep_within(&mut self, w: usize, kept: Kept) {
        self.nodes[w] = node(self.slots, &kept);
        self.kept[w] = kept;
    }

    /// Worker `w` starts again (same address), empty: it may join the running job.
    fn restart(&mut self, w: usize) {
        self.net.alive[w] = true;
        self.nodes[w] = node(self.slots, &self.kept[w]);
    }

    /// Carries out every pending action of every node: the coordinator's here, the workers'
    /// through the production executor.
    fn act(&mut self) -> Option<Result<JobOutput, JobError>> {
        let mut finished = None;
        while let Some(action) = self.coordinator.poll_action() {
            match action {
                coordinator::Action::Send(w, frame) => {
                    self.net.send(Node::Coordinator, ConnId(w.0 as u64), frame)
                }
                coordinator::Action::Connect(w) => self.connect_coordinator(w.0),
                coordinator::Action::Close(w) => self.close_coordinator(w.0),
                coordinator::Action::Log(line) => self.log("coordinator", line),
                coordinator::Action::Finished(outcome) => finished = Some(*outcome),
            }
        }
        for w in 0..self.nodes.len() {
            let Node_ { worker, executor } = &mut self.nodes[w];
            if !self.net.alive[w] {
                while worker.poll_action().is_some() {}
                continue;
            }
            let mut lines = Vec::new();
            while let Some(action) = worker.poll_action() {
                if let worker::Action::Log(line) = action {
                    lines.push(line);
                    continue;
                }
                let mut net = WorkerLink {
                    router: &mut self.net,
                    w,
                };
                let mut queue = Queue {
                    work: &mut self.work,
                    w,
                };
                executor.carry_out(action, worker, &mut net, &mut queue);
            }
            for line in lines {
                self.log(&format!("worker {w}"), line);
            }
            for (v, conn) in std::mem::take(&mut self.net.closes) {
                self.close_worker_conn(v, conn);
            }
        }
        finished
    }

    /// Logs a line with the simulated time and the node that wrote it.
    fn log(&mut self, node: &str, line: String) {
        let ms = self.clock.duration_since(self.start).as_millis();
        self.logs.push(format!("{ms:>6} ms {node}: {line}"));
    }

    /// Maps stopped early because another copy won, summed over the workers.
    fn abandoned(&self) -> u64 {
        self.nodes.iter().map(|n| n.executor.abandoned()).sum()
    }

    /// Delivers one frame or runs one piece of work, chosen at random.
    fn step(&mut self) -> bool {
        let busy: Vec<usize> = (0..self.net.pipes.len())
            .filter(|&p| !self.net.pipes[p].frames.is_empty())
            .collect();
        let choices = busy.len() + self.work.len();
        self.clock += std::time::Duration::from_millis(1);
        let now = self.clock;
        self.coordinator.tick(now);
        for w in 0..self.nodes.len() {
            if self.net.alive[w] {
                self.nodes[w].worker.tick(now);
            }
        }
        if choices == 0 {
            // Only time can make progress (a timeout, a retry): a minute of it at most.
            self.idle += 1;
            return self.idle < 60_000;
        }
        self.idle = 0;
        let pick = self.net.rng.below(choices);
        if pick < busy.len() {
            let pipe = &mut self.net.pipes[busy[pick]];
            let bytes = pipe.frames.pop_front().unwrap();
            let (to, conn) = (pipe.to, pipe.conn_at_to);
            let mut frames = Vec::new();
            Decoder::default().feed(&bytes, &mut frames).unwrap();
            assert_eq!(frames.len(), 1);
            let frame = frames.pop().unwrap();
            let closing = pipe.closing.filter(|_| pipe.frames.is_empty());
            let from = pipe.from;
            match to {
                Node::Coordinator => self.coordinator.frame(Machine(conn.0 as usize), frame, now),
                Node::Worker(w) => self.nodes[w].worker.frame(conn, frame, now),
            }
            if let (Some(conn), Node::Worker(w)) = (closing, from) {
                self.close_worker_conn(w, conn);
            }
        } else {
            let (w, work) = self.work.swap_remove(pick - busy.len());
            let done = work();
            if matches!(done, worker::Completion::Loaded { frames: Ok(_), .. }) {
                self.net.counts.reloads += 1;
            }
            let node = &mut self.nodes[w];
            if let Some(line) = node.executor.completed(&done) {
                self.logs.push(format!("worker {w}: {line}"));
            }
            self.nodes[w].worker.complete(done, now);
        }
        true
    }

    /// Worker `w` closes its connection `conn` (it refused something on it, or its job
    /// ended): once the frames it queued on it are through, both directions drop and the
    /// other end sees the close.
    fn close_worker_conn(&mut self, w: usize, conn: ConnId) {
        let Some(&pipe) = self.net.outgoing.get(&(Node::Worker(w), conn)) else {
            return;
        };
        if self.net.pipes[pipe].dead {
            return;
        }
        if !self.net.pipes[pipe].frames.is_empty() {
            // What it queued goes first (as the driver's Close says).
            self.net.pipes[pipe].closing = Some(conn);
            return;
        }
        let (to, conn_at_to) = (self.net.pipes[pipe].to, self.net.pipes[pipe].conn_at_to);
        let back = self.net.outgoing[&(to, conn_at_to)];
        for p in [pipe, back] {
            self.net.pipes[p].dead = true;
            self.net.pipes[p].frames.clear();
        }
        self.closed(w, conn, "closed by this worker");
        match to {
            Node::Coordinator => self.coordinator.lost(Machine(w), "closed by the worker"),
            Node::Worker(v) => self.closed(v, conn_at_to, "closed by the peer"),
        }
    }

    /// Connection `conn` of worker `w` closed (if it runs), as its driver reports it.
    fn closed(&mut self, w: usize, conn: ConnId, reason: &str) {
        if self.net.alive[w] {
            let Node_ { worker, executor } = &mut self.nodes[w];
            executor.closed(conn, reason, worker);
        }
    }

    /// The coordinator closes its connection to worker `w` (it has counted it out).
    fn close_coordinator(&mut self, w: usize) {
        let Some(&pipe) = self
            .net
            .outgoing
            .get(&(Node::Coordinator, ConnId(w as u64)))
        else {
            return;
        };
        if self.net.pipes[pipe].dead {
            return;
        }
        let conn = self.net.pipes[pipe].conn_at_to;
        let back = self.net.outgoing[&(Node::Worker(w), conn)];
        for p in [pipe, back] {
            self.net.pipes[p].dead = true;
            self.net.pipes[p].frames.clear();
        }
        self.closed(w, conn, "closed by the coordinator");
    }

    /// Worker `w` dies: its connections drop (what was in flight is lost), its pending
    /// work is gone, and the other ends see their connections close.
    fn kill(&mut self, w: usize) {
        self.net.alive[w] = false;
        self.work.retain(|(v, _)| *v != w);
        let mut closed = Vec::new();
        for pipe in &mut self.net.pipes {
            if pipe.from == Node::Worker(w) || pipe.to == Node::Worker(w) {
                if !pipe.dead && pipe.from == Node::Worker(w) {
                    closed.push((pipe.to, pipe.conn_at_to));
                }
                pipe.dead = true;
                pipe.frames.clear();
            }
        }
        for (node, conn) in closed {
            match node {
                Node::Coordinator => self.coordinator.lost(Machine(conn.0 as usize), "killed"),
                Node::Worker(v) => self.closed(v, conn, "killed"),
            }
        }
    }

    fn run(self) -> (Result<JobOutput, JobError>, Counts) {
        self.run_killing(&[])
    }

    /// Runs the job, killing worker `w` after `step` steps for each `(step, w)`.
    fn run_killing(self, kills: &[(usize, usize)]) -> (Result<JobOutput, JobError>, Counts) {
        self.run_with(kills, &[])
    }

    /// Runs the job, killing worker `w` after `step` steps for each `(step, w)` of `kills`,
    /// and starting it (again) for each of `starts`.
    fn run_with(
        mut self,
        kills: &[(usize, usize)],
        starts: &[(usize, usize)],
    ) -> (Result<JobOutput, JobError>, Counts) {
        let mut steps = 0;
        loop {
            for &(at, w) in kills {
                if at == steps && self.net.alive[w] {
                    self.kill(w);
                }
            }
            for &(at, w) in starts {
                if at == steps && !self.net.alive[w] {
                    self.restart(w);
                }
            }
            if let Some(outcome) = self.act() {
                if std::env::var_os("WETMR_SIM_TRACE").is_some() {
                    eprintln!("{}", self.logs.join("\n"));
                }
                let mut counts = self.net.counts;
                counts.abandoned = self.abandoned() as usize;
                return (outcome, counts);
            }
            let tail = |logs: &[String]| logs[logs.len().saturating_sub(40)..].join("\n");
            assert!(
                self.step(),
                "seed {}: the simulation stalled before the job finished:\n{}",
                self.seed,
                tail(&self.logs)
            );
            assert!(
                steps < 1_000_000,
                "seed {}: the job is still running after {steps} steps:\n{}\n{:#?}",
                self.seed,
                tail(&self.logs),
                self.coordinator
            );
            steps += 1;
        }
    }
}

/// What the simulated network and drivers did besides running the job.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    /// Frames delivered twice.
    duplicated: usize,
    /// Maps stopped early (their attempt lost to another copy).
    abandoned: usize,
    /// Kept outputs read back from a spill file, to be sent again.
    reloads: usize,
}

/// Seeds per chaos test: `0..default`, or `0..WETMR_CHAOS_SEEDS` for a longer hunt, or
/// only `WETMR_CHAOS_SEED` to replay one (with `WETMR_SIM_TRACE` set, its log is printed).
fn chaos_seeds(default: u64) -> std::ops::Range<u64> {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    match var("WETMR_CHAOS_SEED") {
        Some(seed) => seed..seed + 1,
        None => 0..var("WETMR_CHAOS_SEEDS").unwrap_or(default),
    }
}

/// One seed is replayed: the figures summed over seeds mean nothing.
fn replaying() -> bool {
    std::env::var_os("WETMR_CHAOS_SEED").is_some()
}

fn config(partitions: Option<u32>, top: Option<usize>, min_count: u64) -> JobConfig {
    JobConfig {
        job: JobId(0x5eed),
        count: Job {
            tokenizer: TokenizerKind::Word,
            content_type: None,
            policy: Policy::Strict,
            split_bytes: Some(64 << 10),
            spill_at: 5_000,
        },
        min_count,
        top,
        partitions,
        greeting_timeout: coordinator::GREETING_TIMEOUT,
        heartbeat_interval: std::time::Duration::from_secs(1),
        heartbeat_timeout: std::time::Duration::from_secs(10),
        backup_tasks: true,
        downloads: DownloadSpec::new(&wetmr::remote::Settings::default()),
        served: None,
    }
}

fn tsv_of(output: &JobOutput, top: Option<usize>) -> Vec<u8> {
    let words = merge_ranked(&output.ranked, top).unwrap();
    let mut out = Vec::new();
    write_tsv(&mut out, &words).unwrap();
    out
}

/// The first line where `got` differs from `want`, for a failure message.
fn first_difference(got: &[u8], want: &[u8]) -> String {
    let mut got_lines = got.split(|&b| b == b'\n');
    let mut want_lines = want.split(|&b| b == b'\n');
    for line in 1.. {
        match (got_lines.next(), want_lines.next()) {
            (None, None) => return "no difference".into(),
            (g, w) if g != w => {
                let show = |l: Option<&[u8]>| l.map(|l| String::from_utf8_lossy(l).into_owned());
                return format!("line {line}: got {:?}, want {:?}", show(g), show(w));
            }
            _ => {}
        }
    }
    unreachable!()
}

fn local_tsv(files: &[PathBuf], top: Option<usize>, min_count: u64) -> Vec<u8> {
    let job = Job {
        tokenizer: TokenizerKind::Word,
        content_type: None,
        policy: Policy::Strict,
        split_bytes: None,
        spill_at: wetmr::count::SPILL_AT as u64,
    };
    let inputs: Vec<_> = files.iter().map(wetmr::input::Input::file).collect();
    let outcome = engine::run(&job, &inputs, &engine::Control::default()).unwrap();
    let words = outcome.counted.ranked(min_count, top);
    let mut out = Vec::new();
    write_tsv(&mut out, &words).unwrap();
    out
}

fn corpus(dir: &Path) -> Vec<PathBuf> {
    vec![
        common::wetgen(dir, "a.warc.wet", "150KB", 61, &[]),
        common::wetgen(dir, "b.warc.wet.gz", "200KB", 62, &["--gzip"]),
        common::wetgen(dir, "c.warc.wet", "100KB", 63, &[]),
        common::wetgen(
            dir,
            "d.warc.wet.gz",
            "120KB",
            64,
            &["--gzip", "--single-stream"],
        ),
        common::wetgen(dir, "e.warc.wet", "80KB", 65, &[]),
    ]
}

#[test]
fn any_delivery_order_gives_the_local_result() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let want = local_tsv(&files, None, 1);
    let (mut backups, mut won, mut abandoned) = (0, 0, 0);
    for seed in chaos_seeds(40) {
        let mut rng = Rng(seed ^ 0xabcd);
        let workers = 1 + rng.below(4);
        let slots = 1 + rng.below(3) as u32;
        let partitions = (rng.chance(50)).then(|| 1 + rng.below(9) as u32);
        let sim = Sim::new(
            seed,
            workers,
            slots,
            config(partitions, None, 1),
            files.clone(),
        );
        let (outcome, counts) = sim.run();
        abandoned += counts.abandoned;
        let output = outcome.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(
            tsv_of(&output, None) == want,
            "seed {seed}: {workers} workers, R {partitions:?}"
        );
        let tasks: u64 = output.workers.iter().map(|w| w.tasks).sum();
        assert_eq!(tasks, files.len() as u64, "seed {seed}");
        backups += output.recovery.backups_launched;
        won += output.recovery.backups_won;
    }
    // Idle slots at the end of a job run backup copies; the winners' data is applied once,
    // and a copy still mapping when the other wins is abandoned (it stops early).
    assert!(
        replaying() || (backups > 0 && won > 0 && abandoned > 0),
        "backups launched {backups}, won {won}, maps abandoned {abandoned}"
    );
}

#[test]
fn duplicated_partitions_and_tasks_are_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let want = local_tsv(&files, Some(500), 2);
    let mut duplicates = 0;
    let mut ignored = 0;
    for seed in chaos_seeds(25) {
        let mut sim = Sim::new(seed, 3, 2, config(Some(5), Some(500), 2), files.clone());
        sim.net.duplicate_percent = 30;
        let (outcome, counts) = sim.run();
        let output = outcome.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(tsv_of(&output, Some(500)) == want, "seed {seed}");
        duplicates += counts.duplicated;
        ignored += output
            .workers
            .iter()
            .map(|w| w.duplicates_ignored)
            .sum::<u64>();
    }
    assert!(
        duplicates > 50,
        "the router duplicated only {duplicates} frames"
    );
    assert!(ignored > 0, "no reducer saw a duplicate");
}

#[test]
fn a_damaged_file_fails_the_job_with_the_first_failure_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = corpus(dir.path());
    let bad1 = dir.path().join("bad1.wet");
    std::fs::write(&bad1, "not a warc file\n").unwrap();
    let bad2 = dir.path().join("bad2.wet");
    std::fs::write(&bad2, "WARC/1.0\r\nContent-Length: 99999\r\n\r\nshort").unwrap();
    files.insert(1, bad1.clone());
    files.push(bad2);
    for seed in 0..15u64 {
        let sim = Sim::new(seed, 3, 2, config(None, None, 1), files.clone());
        match sim.run().0 {
            Err(JobError::Input(message)) => {
                assert!(
                    message.starts_with(&bad1.display().to_string()),
                    "seed {seed}: {message}"
                )
            }
            other => panic!("seed {seed}: {:?}", other.map(|o| o.spectrum.words())),
        }
    }
}

/// The frame `bytes` (one encoded frame) hold.
fn frame(bytes: Vec<u8>) -> Frame {
    let mut frames = Vec::new();
    Decoder::default().feed(&bytes, &mut frames).unwrap();
    frames.pop().unwrap()
}

/// Job 9 of three tasks on two workers, as worker `you` sees it; partition p is owned by
/// worker p mod 2.
fn spec(partitions: u32, you: u32) -> wetmr::protocol::messages::JobSpec {
    use wetmr::protocol::messages::{JobSpec, PartitionHash};
    JobSpec {
        job: JobId(9),
        count: wetmr::engine::Job {
            tokenizer: TokenizerKind::Word,
            content_type: None,
            policy: Policy::Strict,
            split_bytes: None,
            spill_at: 1000,
        },
        hash: PartitionHash::Xxh3Seed0Mod,
        partitions,
        workers: vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()],
        you: Member(you),
        owners: (0..partitions).map(|p| Member(p % 2)).collect(),
        epoch: 0,
        buddy: Some(Member(1 - you.min(1))),
        heartbeat_ms: 1000,
        tasks: 3,
        downloads: DownloadSpec::new(&wetmr::remote::Settings::default()),
        served: None,
    }
}

#[test]
fn workers_refuse_inconsistent_jobs_and_misplaced_partitions() {
    use wetmr::protocol::{
        codec::{self, Message},
        messages::{self, Hello, Role},
    };
    let mut unknown_owner = spec(4, 0);
    unknown_owner.owners[3] = Member(2);
    let mut short_owners = spec(4, 0);
    short_owners.owners.pop();
    let mut named_host = spec(4, 0);
    named_host.workers[1] = "localhost:2".into();
    let mut own_buddy = spec(4, 0);
    own_buddy.buddy = Some(Member(0));
    let mut unknown_buddy = spec(4, 0);
    unknown_buddy.buddy = Some(Member(2));
    let hello = Hello {
        role: Role::Coordinator,
        job: JobId(9),
        worker: Member(0),
    };
    let now = Instant::now();
    for bad in [
        spec(0, 0),
        spec(1 << 20, 0),
        spec(4, 2),
        unknown_owner,
        short_owners,
        named_host,
        own_buddy,
        unknown_buddy,
    ] {
        let mut w = Worker::new(1, 1);
        w.frame(ConnId(1), frame(codec::encode(&hello).unwrap()), now);
        w.frame(ConnId(1), frame(codec::encode(&bad).unwrap()), now);
        let actions: Vec<_> = std::iter::from_fn(|| w.poll_action()).collect();
        let refused = actions.iter().any(|a| match a {
            worker::Action::Send(_, f) => {
                matches!(codec::decode(frame(f.to_vec())), Ok(Message::Refused(_)))
            }
            _ => false,
        });
        assert!(refused, "{bad:?} accepted: {actions:?}");
        assert!(actions
            .iter()
            .any(|a| matches!(a, worker::Action::Close(ConnId(1)))));
        assert!(!actions
            .iter()
            .any(|a| matches!(a, worker::Action::Prepare { .. })));
    }
    // A good job; then, from peers, messages naming what does not exist or coming out of
    // turn: each closes its connection, is counted, and merges nothing.
    let started = || {
        let mut w = Worker::new(1, 1);
        w.frame(ConnId(1), frame(codec::encode(&hello).unwrap()), now);
        w.frame(ConnId(1), frame(codec::encode(&spec(4, 0)).unwrap()), now);
        while w.poll_action().is_some() {}
        w
    };
    let peer = |job: u64, worker: u32| Hello {
        role: Role::Peer,
        job: JobId(job),
        worker: Member(worker),
    };
    let partition = |job: u64, task: u32, partition: u32| messages::Partition {
        job: JobId(job),
        task: TaskId(task),
        attempt: Attempt(1),
        partition: PartitionId(partition),
        words: Default::default(),
    };
    // (what, the job named by the peer's Hello if it sends one, its partition)
    let cases = [
        ("partition before Hello", None, partition(9, 0, 0)),
        ("peer of another job", Some(8), partition(9, 0, 0)),
        ("partition owned by worker 1", Some(9), partition(9, 0, 1)),
        ("partition of task 3 of 3", Some(9), partition(9, 3, 0)),
        ("partition of another job", Some(9), partition(8, 0, 0)),
        ("partition of partition 4 of 4", Some(9), partition(9, 0, 4)),
    ];
    for (what, hello_job, partition) in cases {
        let mut w = started();
        if let Some(job) = hello_job {
            w.frame(ConnId(2), frame(codec::encode(&peer(job, 1)).unwrap()), now);
        }
        w.frame(ConnId(2), frame(codec::encode(&partition).unwrap()), now);
        let actions: Vec<_> = std::iter::from_fn(|| w.poll_action()).collect();
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, worker::Action::Close(ConnId(2)))),
            "{what}: {actions:?}"
        );
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, worker::Action::Merge(_))),
            "{what}: {actions:?}"
        );
        assert_eq!(w.refusals(), 1, "{what}");
    }
    // The same peer's good partition is merged.
    let mut w = started();
    w.frame(ConnId(2), frame(codec::encode(&peer(9, 1)).unwrap()), now);
    w.frame(
        ConnId(2),
        frame(codec::encode(&partition(9, 2, 0)).unwrap()),
        now,
    );
    let actions: Vec<_> = std::iter::from_fn(|| w.poll_action()).collect();
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, worker::Action::Merge(_))),
        "{actions:?}"
    );
    assert_eq!(w.refusals(), 0);
}

#[test]
fn a_reducer_pauses_peers_while_too_many_received_bytes_wait_for_their_merge() {
    use wetmr::protocol::worker::{Completion, MergeOrder};
    use wetmr::protocol::{
        codec,
        messages::{self, Hello, Role},
    };
    let now = Instant::now();
    let spec = spec(1, 0);
    let hello = |role, worker| Hello {
        role,
        job: JobId(9),
        worker,
    };
    let mut w = Worker::new(1, 1).with_inflight_limits(1, 1);
    w.frame(
        ConnId(1),
        frame(codec::encode(&hello(Role::Coordinator, Member(0))).unwrap()),
        now,
    );
    w.frame(ConnId(1), frame(codec::encode(&spec).unwrap()), now);
    w.frame(
        ConnId(2),
        frame(codec::encode(&hello(Role::Peer, Member(1))).unwrap()),
        now,
    );
    while w.poll_action().is_some() {}
    let mut merges = Vec::new();
    for task in 0..2 {
        let partition = messages::Partition {
            job: JobId(9),
            task: TaskId(task),
            attempt: Attempt(1),
            partition: PartitionId(0),
            words: Default::default(),
        };
        w.frame(ConnId(2), frame(codec::encode(&partition).unwrap()), now);
        for action in std::iter::from_fn(|| w.poll_action()) {
            match action {
                worker::Action::Merge(order) => merges.push(order),
                worker::Action::Pause(c) => assert_eq!((c, task), (ConnId(2), 0), "paused once"),
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(merges.len(), 2);
    // Resumed only once nothing waits any more.
    for (i, MergeOrder { from, head, .. }) in merges.into_iter().enumerate() {
        let done = Completion::Merged {
            job: JobId(9),
            from,
            head,
            result: Ok(()),
        };
        w.complete(done, now);
        let actions: Vec<_> = std::iter::from_fn(|| w.poll_action()).collect();
        let resumed = actions
            .iter()
            .any(|a| matches!(a, worker::Action::Resume(ConnId(2))));
        assert_eq!(resumed, i == 1, "{actions:?}");
    }
}

#[test]
fn refusals_are_all_counted_and_logged_at_a_bounded_rate() {
    use wetmr::protocol::worker::REFUSALS_LOGGED_PER_SECOND;
    use wetmr::protocol::{codec, messages::Partition};
    let before_hello = Partition {
        job: JobId(9),
        task: TaskId(0),
        attempt: Attempt(1),
        partition: PartitionId(0),
        words: Default::default(),
    };
    let mut w = Worker::new(1, 1);
    let now = Instant::now();
    let logs = |w: &mut Worker| -> Vec<String> {
        std::iter::from_fn(|| w.poll_action())
            .filter_map(|a| match a {
                worker::Action::Log(line) => Some(line),
                _ => None,
            })
            .collect()
    };
    let flood = REFUSALS_LOGGED_PER_SECOND as u64 + 10;
    for conn in 0..flood {
        w.frame(
            ConnId(conn),
            frame(codec::encode(&before_hello).unwrap()),
            now,
        );
    }
    assert_eq!(w.refusals(), flood);
    let logged = logs(&mut w);
    assert_eq!(
        logged.len(),
        REFUSALS_LOGGED_PER_SECOND as usize,
        "{logged:?}"
    );
    assert!(logged.iter().all(|l| l.contains("Partition before Hello")));
    // A second later: the lines left out are summed up, then logging goes on.
    let later = now + std::time::Duration::from_secs(1);
    w.frame(
        ConnId(flood),
        frame(codec::encode(&before_hello).unwrap()),
        later,
    );
    let logged = logs(&mut w);
    assert_eq!(logged.len(), 2, "{logged:?}");
    assert_eq!(logged[0], "10 more refusals not logged");
    assert_eq!(w.refusals(), flood + 1);
}

#[test]
fn the_coordinator_fails_the_job_on_a_repeated_answer_instead_of_miscounting() {
    use wetmr::protocol::{
        codec::{self, Kind},
        messages::Welcome,
    };
    let job_ready = || frame(codec::encode_job_ref(Kind::JobReady, JobId(0x5eed)));
    let mut c = Coordinator::new(
        config(None, None, 1),
        vec!["w0".into(), "w1".into()],
        vec!["f".into()],
        Instant::now(),
    );
    c.connected(Machine(0));
    c.connected(Machine(1));
    for w in 0..2 {
        c.frame(
            Machine(w),
            frame(
                codec::encode(&Welcome {
                    threads: 1,
                    slots: 1,
                })
                .unwrap(),
            ),
            Instant::now(),
        );
    }
    c.frame(Machine(0), job_ready(), Instant::now());
    c.frame(Machine(0), job_ready(), Instant::now()); // worker 0 answers twice; worker 1 has not
    let finished = std::iter::from_fn(|| c.poll_action()).find_map(|a| match a {
        coordinator::Action::Finished(outcome) => Some(*outcome),
        _ => None,
    });
    match finished {
        Some(Err(JobError::Worker { addr, reason })) => {
            assert_eq!(addr, "w0");
            assert!(reason.contains("protocol error"), "{reason}");
        }
        other => panic!("{:?}", other.map(|r| r.map(|o| o.spectrum.words()))),
    }
}

#[test]
fn killed_workers_lose_no_word_and_count_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let want = local_tsv(&files, None, 1);
    let (mut killed, mut moved, mut again, mut copied) = (0, 0, 0, 0);
    let (mut spilled, mut reloads) = (0, 0);
    for seed in chaos_seeds(80) {
        let mut rng = Rng(seed ^ 0x4b1d);
        let workers = 2 + rng.below(3);
        let slots = 1 + rng.below(2) as u32;
        let partitions = rng.chance(50).then(|| 1 + rng.below(9) as u32);
        // One or two deaths (never every worker) at random moments of the job.
        let deaths = if workers > 2 && rng.chance(30) { 2 } else { 1 };
        let mut kills = Vec::new();
        let mut victims: Vec<usize> = (0..workers).collect();
        for _ in 0..deaths {
            let w = victims.swap_remove(rng.below(victims.len()));
            kills.push((rng.below(400), w));
        }
        let mut sim = Sim::new(
            seed,
            workers,
            slots,
            config(partitions, None, 1),
            files.clone(),
        );
        sim.net.duplicate_percent = if rng.chance(30) { 20 } else { 0 };
        // Kept outputs all in memory, all spilled, or some of each.
        let memory = [u64::MAX, 0, 200_000][rng.below(3)];
        for w in 0..workers {
            let spill_dir = dir.path().to_path_buf();
            sim.keep_within(w, Kept { memory, spill_dir });
        }
        let (outcome, counts) = sim.run_killing(&kills);
        let output = outcome.unwrap_or_else(|e| panic!("seed {seed}: kills {kills:?}: {e}"));
        reloads += counts.reloads;
        let got = tsv_of(&output, None);
        assert!(
            got == want,
            "seed {seed}: {workers} workers, R {partitions:?}, kills {kills:?}: {}",
            first_difference(&got, &want)
        );
        killed += output.recovery.workers_lost;
        moved += output.recovery.partitions_moved;
        again += output.recovery.tasks_reexecuted;
        copied += output.recovery.tasks_from_copies;
        spilled += output
            .workers
            .iter()
            .map(|w| w.kept_bytes_spilled)
            .sum::<u64>();
    }
    // The seeds must have exercised recovery, not just finished before the kills.
    eprintln!(
        "recovery exercised: {killed} workers lost, {moved} partitions moved, \
         {again} tasks run again, {copied} sent from copies, {spilled} bytes spilled, \
         {reloads} reads of spilled outputs"
    );
    assert!(
        replaying()
            || (killed > 40
                && moved > 40
                && again > 20
                && copied > 10
                && spilled > 1 << 20
                && reloads > 20),
        "lost {killed}, moved {moved}, again {again}, from copies {copied}, \
         spilled {spilled}, reloads {reloads}"
    );
}

#[test]
fn a_worker_whose_spill_file_fails_leaves_the_job_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let want = local_tsv(&files, None, 1);
    // No memory for kept outputs, and no directory to spill them to.
    let missing = dir.path().join("no such dir");
    let broken = Kept {
        memory: 0,
        spill_dir: missing.clone(),
    };
    let mut left = 0;
    for seed in chaos_seeds(20) {
        let workers = 2 + Rng(seed ^ 0x5b11).below(3);
        let mut sim = Sim::new(seed, workers, 1, config(None, None, 1), files.clone());
        sim.keep_within(0, broken.clone());
        let (outcome, _) = sim.run_killing(&[]);
        let output = outcome.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let got = tsv_of(&output, None);
        assert!(
            got == want,
            "seed {seed}: {}",
            first_difference(&got, &want)
        );
        if let Some(lost) = &output.workers[0].lost {
            assert!(
                lost.contains("left the job: spill file in")
                    && lost.contains(&missing.display().to_string()),
                "seed {seed}: {lost}"
            );
            left += 1;
        }
    }
    assert!(
        replaying() || left >= 15,
        "the broken worker left only {left} of 20 jobs"
    );
}

#[test]
fn a_silent_worker_is_taken_over_early_only_in_the_tail_with_backups() {
    use std::time::Duration;
    use wetmr::protocol::coordinator::SUSPECT_AFTER_INTERVALS;
    use wetmr::protocol::{
        codec::{self, Kind},
        messages::Welcome,
    };
    let interval = Duration::from_millis(500);
    // Silent just past the tail limit, well short of the heartbeat timeout.
    let silence = interval * SUSPECT_AFTER_INTERVALS + interval / 2;
    // (files, backup tasks) → is worker 1 lost after `silence`?
    for (files, backups, lost) in [(1, true, true), (1, false, false), (5, true, false)] {
        let mut config = config(None, None, 1);
        config.heartbeat_interval = interval;
        config.backup_tasks = backups;
        let paths = (0..files).map(|i| PathBuf::from(format!("f{i}"))).collect();
        let t0 = Instant::now();
        let mut c = Coordinator::new(config, vec!["w0".into(), "w1".into()], paths, t0);
        for w in 0..2 {
            c.connected(Machine(w));
            let welcome = codec::encode(&Welcome {
                threads: 1,
                slots: 1,
            });
            c.frame(Machine(w), frame(welcome.unwrap()), t0);
        }
        c.tick(t0);
        for w in 0..2 {
            c.frame(
                Machine(w),
                frame(codec::encode_job_ref(Kind::JobReady, JobId(0x5eed))),
                t0,
            );
        }
        while c.poll_action().is_some() {}
        // Worker 0 keeps beating; worker 1 goes silent.
        let later = t0 + silence;
        c.frame(
            Machine(0),
            frame(
                codec::encode(&messages::Heartbeat {
                    job: JobId(0x5eed),
                    maps: Vec::new(),
                })
                .unwrap(),
            ),
            later,
        );
        c.tick(later);
        let actions: Vec<_> = std::iter::from_fn(|| c.poll_action()).collect();
        let closed = actions
            .iter()
            .any(|a| matches!(a, coordinator::Action::Close(Machine(1))));
        assert_eq!(
            closed, lost,
            "{files} files, backups {backups}: {actions:?}"
        );
        if lost {
            let logged = actions.iter().any(|a| {
                matches!(a, coordinator::Action::Log(l) if l.contains("taken over as a straggler"))
            });
            assert!(logged, "{actions:?}");
        }
    }
}

#[test]
fn restarted_and_late_workers_join_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let want = local_tsv(&files, None, 1);
    let (mut joined, mut lost) = (0, 0);
    for seed in chaos_seeds(60) {
        let mut rng = Rng(seed ^ 0x7e70);
        let workers = 2 + rng.below(3);
        let slots = 1 + rng.below(2) as u32;
        let partitions = rng.chance(50).then(|| 1 + rng.below(9) as u32);
        let mut config = config(partitions, None, 1);
        // Retries every 100 steps (the simulated clock moves 1 ms a step). Not shorter: one
        // frame moves per step over all links, so a heartbeat can queue for tens of steps
        // behind shuffle frames, and the tail takeover would drop workers merely queued.
        config.heartbeat_interval = std::time::Duration::from_millis(50);
        let victim = rng.below(workers);
        let (absent, kills, starts) = if rng.chance(30) {
            // Started late: not running when the job starts.
            (vec![victim], vec![], vec![(rng.below(200), victim)])
        } else {
            // Killed, then started again (same address) a little later, once or twice.
            let kill = rng.below(300);
            let restart = kill + 1 + rng.below(100);
            let mut kills = vec![(kill, victim)];
            let mut starts = vec![(restart, victim)];
            if rng.chance(30) {
                kills.push((restart + 100 + rng.below(200), victim));
                starts.push((restart + 400, victim));
            }
            (vec![], kills, starts)
        };
        if std::env::var_os("WETMR_SIM_TRACE").is_some() {
            eprintln!("seed {seed}: {workers} workers, kills {kills:?}, starts {starts:?}");
        }
        let mut sim = Sim::with_absent(seed, workers, slots, config, files.clone(), &absent);
        sim.net.duplicate_percent = if rng.chance(30) { 20 } else { 0 };
        let (outcome, _) = sim.run_with(&kills, &starts);
        let output = outcome.unwrap_or_else(|e| {
            panic!("seed {seed}: {workers} workers, kills {kills:?}, starts {starts:?}: {e}")
        });
        assert!(
            tsv_of(&output, None) == want,
            "seed {seed}: {workers} workers, R {partitions:?}, kills {kills:?}, starts {starts:?}"
        );
        joined += output.recovery.workers_joined;
        lost += output.recovery.workers_lost;
    }
    eprintln!("rejoining exercised: {joined} workers joined, {lost} lost");
    assert!(
        replaying() || (joined > 20 && lost > 20),
        "joined {joined}, lost {lost}"
    );
}

/// A job whose coordinator goes away abandons the map it still runs (through the
/// production executor): the map stops at its next record instead of reading its file to
/// the end, and the next job runs on the same worker at once, with the right result.
#[test]
fn a_job_that_ends_abandons_its_maps_and_the_next_job_runs_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let big = common::wetgen(dir.path(), "big.warc.wet", "8MB", 71, &[]);
    let size = std::fs::metadata(&big).unwrap().len() as f64 / 1e6;
    let mut sim = Sim::new(7, 1, 1, config(None, None, 1), vec![big]);
    // Until the worker's map of the big file is queued.
    for _ in 0..10_000 {
        assert!(sim.act().is_none(), "the job ended before its map ran");
        if !sim.work.is_empty() {
            break;
        }
        sim.step();
    }
    assert_eq!(sim.work.len(), 1, "one map queued");
    // The coordinator goes away: the worker drops the job, which abandons the map.
    sim.close_coordinator(0);
    assert!(sim.act().is_none());
    let (_, map) = sim.work.pop().unwrap();
    let done = map();
    let abandoned = match &done {
        wetmr::protocol::worker::Completion::Mapped { result, .. } => result.is_err(),
        _ => false,
    };
    assert!(abandoned, "the map of an ended job fails (abandoned)");
    let line = sim.nodes[0]
        .executor
        .completed(&done)
        .expect("an abandoned map");
    let read: f64 = line
        .split("after ")
        .nth(1)
        .and_then(|rest| rest.split(" MB").next())
        .and_then(|mb| mb.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(read < size / 4.0, "read {read} MB of {size:.1} MB: {line}");
    sim.nodes[0].worker.complete(done, sim.clock);
    // A new coordinator's job on the same worker.
    let files = corpus(dir.path());
    let mut next = config(None, None, 1);
    next.job = JobId(0x5eee);
    let addresses = vec!["10.0.0.0:7070".to_string()];
    sim.coordinator = Coordinator::new(next, addresses, files.clone(), sim.clock);
    sim.connect_coordinator(0);
    let (outcome, _) = sim.run();
    let output = outcome.expect("the next job runs");
    assert_eq!(tsv_of(&output, None), local_tsv(&files, None, 1));
}
