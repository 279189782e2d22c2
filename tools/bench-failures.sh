#!/usr/bin/env bash
# Failure benchmark of `wetmr run`: wall time of a job on three local workers when one of
# them fails, against the same job without failure, measured in the same run.
#
#   kill   one worker SIGKILLed halfway through the map phase
#   stop   one worker SIGSTOPped near the end: as soon as the files of all tasks but one
#          are counted (read from the coordinator's progress lines), the one busiest then
#          (it maps the last task); with backup tasks, then with --no-backup-tasks
#
# Every faulty run's output is compared with the fault-free one (it must be identical).
# Uses the 50 MB parts of tools/bench.sh's corpus (run it once first, or give --dir);
# --files N takes N of them, round robin (default 12: four rounds of three tasks).
#
# Usage: tools/bench-failures.sh [--dir DIR] [--runs N] [--files N] [--threads N]
# (BF_DEBUG=1 also prints every run's time.)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/bench-corpus
runs=3
nfiles=12
threads=1
while [ $# -gt 0 ]; do
  case $1 in
    --dir) dir=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --files) nfiles=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "bench-failures.sh: unknown option $1" >&2; exit 1 ;;
  esac
done

cd "$root"
cargo build --release --quiet --bin wetmr
wetmr=$root/target/release/wetmr
files=()
for i in $(seq 0 $((nfiles - 1))); do
  f=$dir/part$((i % 4 + 1)).warc.wet.gz
  [ -s "$f" ] || { echo "bench-failures.sh: $f missing (run tools/bench.sh first)" >&2; exit 1; }
  files+=("$f")
done
cat "${files[@]}" > /dev/null

work=$(mktemp -d)
pids=()
stop_workers() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  # (Disowned workers: polled, so the shell reports no killed job.)
  for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.01; done; done
  pids=()
}
cleanup() { stop_workers; rm -rf "$work"; }
trap cleanup EXIT

# start_workers: three fresh workers on loopback, their addresses in $work/machines.txt.
start_workers() {
  stop_workers
  : > "$work/machines.txt"
  # (Removed first: a stale address could be read before the new worker truncates it.)
  rm -f "$work"/addr[0-2]
  for i in 0 1 2; do
    "$wetmr" worker --quiet --listen 127.0.0.1:0 --threads "$threads" > "$work/addr$i" &
    pids+=($!)
    disown $!
  done
  for i in 0 1 2; do
    while [ ! -s "$work/addr$i" ]; do sleep 0.01; done
    cat "$work/addr$i" >> "$work/machines.txt"
  done
}

# timed_run OUT [run options]: runs the job, appends its wall seconds to $work/times.
timed_run() {
  local out=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  "$wetmr" run --quiet --machines "$work/machines.txt" --output "$out" "$@" "${files[@]}"
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l >> "$work/times"
}

# stop_near_end: reads the coordinator's stderr; once the files of all tasks but one are
# counted (the last one is being mapped), stops the busiest worker: the one mapping it.
stop_near_end() {
  local line stopped=
  while IFS= read -r line; do
    if [[ $line =~ progress:\ [0-9]+/[0-9]+\ files\ done,\ ([0-9]+)\ counted ]]; then
      if [ -z "$stopped" ] && [ "${BASH_REMATCH[1]}" -ge $((nfiles - 1)) ]; then
        kill -STOP "$(busiest)" 2>/dev/null || true
        stopped=1
      fi
    else
      printf '%s\n' "$line" >> "$work/run.log"
    fi
  done
}

# stopped_run [run options]: a job with a worker stopped near the end (stop_near_end).
stopped_run() {
  start_workers
  local t0 t1
  : > "$work/run.log"
  t0=$(date +%s.%N)
  "$wetmr" run --progress 0.01 --machines "$work/machines.txt" --output "$work/faulty.tsv" \
    "$@" "${files[@]}" 2> >(stop_near_end) || { cat "$work/run.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l >> "$work/times"
  cmp -s "$work/faulty.tsv" "$work/reference.tsv" || {
    echo "bench-failures.sh: output differs after SIGSTOP" >&2; exit 1; }
}

# cpu_ticks PID: the CPU time a process has used so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# busiest: the worker that used the most CPU over the next 0.1 s (one mapping a task).
busiest() {
  local before=() best=${pids[1]} most=-1 i used
  for i in 0 1 2; do before[i]=$(cpu_ticks "${pids[i]}"); done
  sleep 0.1
  for i in 0 1 2; do
    used=$(( $(cpu_ticks "${pids[i]}") - before[i] ))
    if [ "$used" -gt "$most" ]; then most=$used; best=${pids[i]}; fi
  done
  echo "$best"
}

# killed_run DELAY [run options]: a job with worker 1 SIGKILLed after DELAY seconds.
killed_run() {
  local delay=$1; shift
  start_workers
  (sleep "$delay"; kill -KILL "${pids[1]}" 2>/dev/null || true) &
  local killer=$!
  timed_run "$work/faulty.tsv" "$@"
  wait "$killer" || true
  cmp -s "$work/faulty.tsv" "$work/reference.tsv" || {
    echo "bench-failures.sh: output differs after SIGKILL" >&2; exit 1; }
}

# measure CMD...: runs CMD $runs times, prints the median of the times they appended.
measure() {
  : > "$work/times"
  for _ in $(seq "$runs"); do "$@"; done
  [ -z "${BF_DEBUG:-}" ] || echo "$* times: $(tr "\n" " " < "$work/times")" >&2
  sort -g "$work/times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

free_run() { start_workers; timed_run "$work/free.tsv" "$@"; }

start_workers
timed_run "$work/reference.tsv" # warm-up, and the reference output
measure free_run > "$work/base"
base=$(cat "$work/base")
cmp -s "$work/free.tsv" "$work/reference.tsv" || { echo "bench-failures.sh: unstable output" >&2; exit 1; }

printf '%d x 50 MB gz on 3 workers x %d thread(s), medians of %d\n' "$nfiles" "$threads" "$runs"
printf '%-52s %7.2f s\n' "no failure" "$base"
report() { # label target
  local t
  t=$(cat "$work/median")
  printf '%-52s %7.2f s  %5.2fx  (target <= %s)\n' "$1" "$t" "$(echo "$t / $base" | bc -l)" "$2"
}
half=$(echo "$base * 0.5 * 0.8" | bc -l) # the map phase is about 80% of the job
measure killed_run "$half" > "$work/median"
report "one worker SIGKILLed halfway through the map" 1.6
measure stopped_run > "$work/median"
report "one worker SIGSTOPped near the end, backup tasks" 1.3
# (Not in a $(...) subshell: the workers it starts must be stopped by this shell.)
measure free_run --no-backup-tasks > "$work/base_nb"
base_nb=$(cat "$work/base_nb")
printf '%-52s %7.2f s  %5.2fx\n' "no failure, no backups" "$base_nb" "$(echo "$base_nb / $base" | bc -l)"
measure stopped_run --no-backup-tasks > "$work/median"
report "one worker SIGSTOPped near the end, no backups" -
