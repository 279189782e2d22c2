#!/usr/bin/env bash
# Interleaved A/B timing of two wetmr builds on the same arguments: A B A B ... so that the
# drift of a shared, noisy machine hits both alike. Prints each side's times, medians and
# the ratio B/A. Use it before claiming a speed-up smaller than ~15%.
#
# Usage: tools/ab.sh [-n RUNS] BIN_A BIN_B ARGS...
#   e.g. tools/ab.sh -n 7 /tmp/wetmr-old target/release/wetmr count -q --threads 1 \
#          bench-corpus/big.warc.wet -o /dev/null
set -euo pipefail
runs=5
if [ "${1:-}" = "-n" ]; then runs=$2; shift 2; fi
if [ $# -lt 3 ]; then sed -n '2,9p' "$0"; exit 1; fi
a=$1 b=$2
shift 2

elapsed() { # CMD... -> seconds
  local t0 t1
  t0=$(date +%s.%N)
  "$@" > /dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

ta=() tb=()
for _ in $(seq "$runs"); do
  ta+=("$(elapsed "$a" "$@")")
  tb+=("$(elapsed "$b" "$@")")
done
ma=$(printf '%s\n' "${ta[@]}" | median)
mb=$(printf '%s\n' "${tb[@]}" | median)
printf 'A %s:' "$a"; printf ' %.3f' "${ta[@]}"; printf '  median %.3f s\n' "$ma"
printf 'B %s:' "$b"; printf ' %.3f' "${tb[@]}"; printf '  median %.3f s\n' "$mb"
printf 'B/A = %.3f\n' "$(echo "$mb / $ma" | bc -l)"
