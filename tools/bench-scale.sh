#!/usr/bin/env bash
# A crawl's worth of inputs: `wetmr count` and `wetmr cluster --workers 3` over lists of
# 1,000 and 100,000 small files (one record each, plain and gzip alternately, taken in turn
# from a wetgen corpus), and over the directory that holds the 100,000. Prints, for each run, the
# wall time, the peak RSS of the largest process, and the most open file descriptors and
# memory maps seen in any wetmr process (sampled every 20 ms from /proc), then the growth
# from 1,000 to 100,000 inputs. The cluster's output must equal count's, byte for byte.
#
# Usage: tools/bench-scale.sh [--files N] [--work DIR]   (default 100000 files in a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
files=100000
work=""
while [ $# -gt 0 ]; do
  case $1 in
    --files) files=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    *) sed -n '2,9p' "$0"; exit 1 ;;
  esac
done
small=$((files / 100))
cargo build --release -q --bin wetmr --bin wetgen
wetmr=$PWD/target/release/wetmr
[ -n "$work" ] || work=$(mktemp -d)
mkdir -p "$work"
echo "work directory: $work"

if [ ! -f "$work/files/.done-$files" ]; then
  rm -rf "$work/files"
  mkdir -p "$work/files"
  # Records are taken in turn from a 100 MB corpus, from its start again when it runs out.
  target/release/wetgen --size 100MB --seed 7 "$work/corpus.warc.wet" >/dev/null
  python3 - "$work/corpus.warc.wet" "$work/files" "$files" <<'PY'
import gzip, os, sys
data, out, want = open(sys.argv[1], "rb").read(), sys.argv[2], int(sys.argv[3])
pos, n = 0, 0
while n < want:
    start = data.find(b"WARC/1.0", pos)
    if start < 0:
        pos = 0
        continue
    head_end = data.index(b"\r\n\r\n", start) + 4
    length = int([l for l in data[start:head_end].split(b"\r\n")
                  if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    end = head_end + length + 4
    record = data[start:end]
    pos = end
    if b"WARC-Type: conversion" not in data[start:head_end]:
        continue
    name = os.path.join(out, f"{n:06d}.warc.wet")
    if n % 2:
        with open(name + ".gz", "wb") as f:
            f.write(gzip.compress(record, 6))
    else:
        with open(name, "wb") as f:
            f.write(record)
    n += 1
PY
  touch "$work/files/.done-$files"
fi
(cd "$work/files" && ls | grep -v '^\.' | sort) | sed "s|^|$work/files/|" > "$work/list-$files.txt"
head -n "$small" "$work/list-$files.txt" > "$work/list-$small.txt"
# The same small list named 100 times over: as many inputs as the large list, with the
# vocabulary of the small one, so that what grows is what each input costs.
for _ in $(seq $((files / small))); do cat "$work/list-$small.txt"; done > "$work/list-repeated.txt"

# Runs a wetmr command; prints "seconds peak_rss_mb max_fds max_maps".
measure() {
  local out=$1; shift
  local samples="$work/samples"
  : > "$samples"
  /usr/bin/time -f "%e %M" -o "$work/time" "$wetmr" "$@" -o "$out" 2>"$work/stderr" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for p in $(pgrep -x wetmr); do
      fds=$(ls "/proc/$p/fd" 2>/dev/null | wc -l)
      maps=$( (wc -l < "/proc/$p/maps") 2>/dev/null || echo 0)
      echo "$fds $maps" >> "$samples"
    done
    sleep 0.02
  done
  wait "$pid" || { cat "$work/stderr"; exit 1; }
  read -r secs rss_kb < "$work/time"
  local fds maps
  fds=$(sort -n -k1 "$samples" | tail -1 | cut -d' ' -f1)
  maps=$(sort -n -k2 "$samples" | tail -1 | cut -d' ' -f2)
  echo "$secs $((rss_kb / 1024)) ${fds:-0} ${maps:-0}"
}

printf '%-44s %9s %9s %9s %9s\n' "run" "seconds" "RSS MiB" "max fds" "max maps"
declare -A result
for n in "$small" "$files"; do
  for how in count cluster; do
    if [ "$how" = count ]; then cmd=(count -q --threads 2); else cmd=(cluster -q --workers 3 --threads 1); fi
    r=$(measure "$work/$how-$n.tsv" "${cmd[@]}" --inputs "$work/list-$n.txt")
    result[$how-$n]=$r
    printf '%-44s %9s %9s %9s %9s\n' "$how --inputs (list of $n)" $r
  done
  cmp -s "$work/count-$n.tsv" "$work/cluster-$n.tsv" || { echo "cluster and count differ ($n)"; exit 1; }
done
for how in count cluster; do
  if [ "$how" = count ]; then cmd=(count -q --threads 2); else cmd=(cluster -q --workers 3 --threads 1); fi
  r=$(measure "$work/$how-repeated.tsv" "${cmd[@]}" --inputs "$work/list-repeated.txt")
  result[$how-repeated]=$r
  printf '%-44s %9s %9s %9s %9s\n' "$how (list of $small, $((files / small)) times)" $r
done
cmp -s "$work/count-repeated.tsv" "$work/cluster-repeated.tsv" || { echo "cluster and count differ (repeated)"; exit 1; }
r=$(measure "$work/count-dir.tsv" count -q --threads 2 "$work/files")
printf '%-44s %9s %9s %9s %9s\n' "count DIR ($files files)" $r
cmp -s "$work/count-dir.tsv" "$work/count-$files.tsv" || { echo "directory and list differ"; exit 1; }
r=$(measure "$work/cluster-dir.tsv" cluster -q --workers 3 --threads 1 "$work/files")
printf '%-44s %9s %9s %9s %9s\n' "cluster --workers 3 DIR ($files files)" $r
cmp -s "$work/cluster-dir.tsv" "$work/count-$files.tsv" || { echo "cluster directory differs"; exit 1; }

echo
echo "growth from $small to $files inputs (x$((files / small)) inputs):"
for how in count cluster; do
  read -r s1 m1 f1 p1 <<< "${result[$how-$small]}"
  read -r s2 m2 f2 p2 <<< "${result[$how-$files]}"
  printf '  %-8s time x%.1f, peak RSS x%.2f, fds x%.2f, maps x%.2f\n' "$how" \
    "$(echo "$s2 / $s1" | bc -l)" "$(echo "$m2 / $m1" | bc -l)" \
    "$(echo "$f2 / $f1" | bc -l)" "$(echo "$p2 / $p1" | bc -l)"
done
echo "the same $small files named $((files / small)) times ($files inputs, the same vocabulary):"
for how in count cluster; do
  read -r s1 m1 f1 p1 <<< "${result[$how-$small]}"
  read -r s2 m2 f2 p2 <<< "${result[$how-repeated]}"
  printf '  %-8s time x%.1f, peak RSS x%.2f (%+d MiB, %.0f bytes per input), fds x%.2f, maps x%.2f\n' \
    "$how" "$(echo "$s2 / $s1" | bc -l)" "$(echo "$m2 / $m1" | bc -l)" "$((m2 - m1))" \
    "$(echo "($m2 - $m1) * 1048576 / ($files - $small)" | bc -l)" \
    "$(echo "$f2 / $f1" | bc -l)" "$(echo "$p2 / $p1" | bc -l)"
done
echo "outputs: cluster = count = directory, byte for byte"
