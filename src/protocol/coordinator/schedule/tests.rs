//! The schedule on its own: who gets which task, backups in the tail, the first failure
//! in input order, and what the loss of a worker costs.

use super::*;
use crate::protocol::coordinator::members::Link;
use crate::protocol::ids::JobId;
use crate::protocol::messages::Welcome;

const JOB: JobId = JobId(1);

/// Workers with these slots, all in the job.
fn members(slots: &[u32]) -> Members {
    let addresses = (0..slots.len()).map(|i| format!("w{i}")).collect();
    let mut members = Members::new(addresses);
    for (i, &slots) in slots.iter().enumerate() {
        members[Machine(i)].link = Link::Ready;
        members[Machine(i)].welcomed(&Welcome { threads: 1, slots });
    }
    members.start();
    let list: Vec<_> = members.list().collect();
    for (member, m) in list {
        members[m].member = Some(member);
    }
    members
}

fn schedule(tasks: usize) -> Schedule {
    Schedule::new((0..tasks).map(|t| format!("f{t}").into()).collect())
}

fn counted() -> FileResult {
    FileResult {
        format: Some(crate::input::Format::Plain),
        ..FileResult::default()
    }
}

/// (task, worker, backup) of each handout.
fn handed(out: &[dispatch::Handout]) -> Vec<(u32, usize, bool)> {
    out.iter()
        .map(|h| (h.task.task.0, h.worker.0, h.backup))
        .collect()
}

#[test]
fn tasks_go_in_input_order_to_the_workers_with_the_most_free_slots() {
    let mut members = members(&[1, 2]);
    let mut schedule = schedule(5);
    let mut recovery = Recovery::default();
    let out = schedule.dispatch(JOB, false, &mut members, &mut recovery);
    // w1 has two free slots, then both one (the lower machine first).
    assert_eq!(handed(&out), [(0, 1, false), (1, 0, false), (2, 1, false)]);
    assert_eq!(schedule.pending(), 2);
    assert!(schedule.open() && !schedule.all_handed_out());
    // Nothing is free: nothing more goes out.
    assert!(schedule
        .dispatch(JOB, false, &mut members, &mut recovery)
        .is_empty());
    // Task 1 is counted on w0: its slot frees, and task 3 takes it.
    let attempt = out[1].task.attempt;
    schedule.release_slot(TaskId(1), Machine(0), attempt, &mut members);
    let out = schedule.dispatch(JOB, false, &mut members, &mut recovery);
    assert_eq!(handed(&out), [(3, 0, false)]);
}

#[test]
fn in_the_tail_an_idle_slot_backs_up_the_oldest_running_task_and_the_first_copy_wins() {
    let mut members = members(&[1, 1]);
    let mut schedule = schedule(2);
    let mut recovery = Recovery::default();
    let out = schedule.dispatch(JOB, true, &mut members, &mut recovery);
    assert_eq!(handed(&out), [(0, 0, false), (1, 1, false)]);
    // Task 0 finishes on w0: its slot is idle, and task 1 (on w1) gets a backup there.
    let first = (Machine(0), out[0].task.attempt);
    schedule.release_slot(TaskId(0), first.0, first.1, &mut members);
    let cancel = (schedule).done(
        TaskId(0),
        first,
        counted(),
        None,
        &mut members,
        &mut recovery,
    );
    assert!(cancel.is_empty());
    let backups = schedule.dispatch(JOB, true, &mut members, &mut recovery);
    assert_eq!(handed(&backups), [(1, 0, true)]);
    assert_eq!(backups[0].task.attempt, Attempt(2));
    assert_eq!(recovery.backups_launched, 1);
    // The backup finishes first: the first copy is cancelled, and the task is done.
    let backup = (Machine(0), Attempt(2));
    let cancel = schedule.done(
        TaskId(1),
        backup,
        counted(),
        None,
        &mut members,
        &mut recovery,
    );
    assert_eq!(cancel, [(Machine(1), Attempt(1))]);
    assert_eq!(recovery.backups_won, 1);
    assert!(!schedule.open() && schedule.idle());
    assert!(!schedule.is_running(TaskId(1), Machine(1), Attempt(1)));
}

#[test]
fn the_first_failure_in_input_order_is_the_job_s_and_cuts_off_what_follows() {
    let mut members = members(&[3]);
    let mut schedule = schedule(4);
    let mut recovery = Recovery::default();
    let out = schedule.dispatch(JOB, false, &mut members, &mut recovery);
    assert_eq!(out.len(), 3);
    let alive = [Machine(0)];
    let fail = |schedule: &mut Schedule, t: u32, attempt: Attempt| {
        let message = format!("task {t} is damaged");
        let copy = (Machine(0), attempt);
        let failure = Failure::Damaged;
        (schedule).failed(
            TaskId(t),
            copy,
            failure,
            message,
            "w0",
            &alive,
            Policy::Strict,
        )
    };
    assert!(fail(&mut schedule, 2, out[2].task.attempt));
    assert_eq!(schedule.cutoff(), TaskId(2));
    assert_eq!(schedule.failure(), Some("task 2 is damaged"));
    assert!(fail(&mut schedule, 1, out[1].task.attempt));
    assert_eq!(schedule.cutoff(), TaskId(1));
    assert_eq!(schedule.failure(), Some("task 1 is damaged"));
    // Task 3 is past the cutoff: it need not run.
    assert_eq!(schedule.pending(), 0);
}

#[test]
fn a_lost_worker_s_tasks_run_again_unless_its_buddy_keeps_copies() {
    let mut members = members(&[1, 1, 1]);
    let mut schedule = schedule(3);
    let mut recovery = Recovery::default();
    let out = schedule.dispatch(JOB, false, &mut members, &mut recovery);
    assert_eq!(handed(&out), [(0, 0, false), (1, 1, false), (2, 2, false)]);
    // w0 finished task 0 with copies at w1; w1 finished task 1 with copies at w0.
    let (a0, a1) = (out[0].task.attempt, out[1].task.attempt);
    let copy_at = Some(Machine(1));
    schedule.done(
        TaskId(0),
        (Machine(0), a0),
        counted(),
        copy_at,
        &mut members,
        &mut recovery,
    );
    let copy_at = Some(Machine(0));
    schedule.done(
        TaskId(1),
        (Machine(1), a1),
        counted(),
        copy_at,
        &mut members,
        &mut recovery,
    );
    // w0 is lost: task 0's outputs come from w1's copies; w1 then is lost too, and task
    // 1's copies were at w0: it runs again, as does task 0, now kept by neither.
    let lost = schedule.lose(Machine(0), &[Machine(1), Machine(2)], false);
    assert_eq!((lost.again, lost.from_copies), (0, 1));
    assert_eq!(schedule.resend(TaskId(0)), Some(Machine(1)));
    let lost = schedule.lose(Machine(1), &[Machine(2)], false);
    assert_eq!((lost.again, lost.from_copies), (2, 0));
    assert_eq!(schedule.pending(), 2);
    assert!(schedule.is_running(TaskId(2), Machine(2), out[2].task.attempt));
}
