#!/usr/bin/env bash
# Scaling study: the same job on 1, 2, ... N workers (and, on this machine, with several
# thread counts per worker); writes a table and a plot of time and speedup against workers.
#
# Usage:
#   tools/scaling.sh [-n RUNS] [-o DIR] --machines FILE [--] INPUT...
#       real workers: the first 1, 2, ... N lines of FILE (a `wetmr run` machines file;
#       threads per worker are the workers' own)
#   tools/scaling.sh [-n RUNS] [-o DIR] --local N [--threads T1,T2,...] [--] INPUT...
#       1..N local workers (`wetmr cluster`), each with T threads (default 1)
# Environment: WETMR (the binary; default target/release/wetmr), and any WETMR_* setting
# for the job (e.g. WETMR_SECRET_FILE for a cluster with a secret).
# Each point is the median of RUNS runs (default 3) of the coordinator's own time (the
# stats document's `seconds`: from reading the inputs' list to the written output).
# Writes DIR/scaling.tsv (workers, threads, seconds, speedup over 1 worker, efficiency) and
# DIR/scaling.svg (time and speedup against workers, one line per thread count).
set -euo pipefail
runs=3 out=scaling machines="" local=0 threads=1
while [ $# -gt 0 ]; do
  case $1 in
    -n) runs=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    --machines) machines=$2; shift 2 ;;
    --local) local=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
if [ $# -eq 0 ] || { [ -z "$machines" ] && [ "$local" -lt 1 ]; }; then
  sed -n '2,16p' "$0"; exit 1
fi
wetmr=${WETMR:-target/release/wetmr}
[ -x "$wetmr" ] || { echo "no wetmr binary at $wetmr (cargo build --release, or set WETMR)" >&2; exit 1; }
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -n "$machines" ]; then
  grep -v '^[[:space:]]*\(#\|$\)' "$machines" > "$work/all" || true
  max=$(wc -l < "$work/all")
  [ "$max" -ge 1 ] || { echo "$machines lists no worker" >&2; exit 1; }
  threads="-"
else
  max=$local
fi

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

# One run's seconds, from its stats document.
one_run() { # WORKERS THREADS INPUT...
  local k=$1 t=$2; shift 2
  if [ -n "$machines" ]; then
    head -n "$k" "$work/all" > "$work/machines"
    "$wetmr" run --machines "$work/machines" -q -o /dev/null --stats "$work/stats.json" "$@"
  else
    "$wetmr" cluster --workers "$k" --threads "$t" -q -o /dev/null --stats "$work/stats.json" "$@"
  fi
  sed -n 's/^ *"seconds": *\([0-9.eE+-]*\),*$/\1/p' "$work/stats.json" | head -n 1
}

table="$out/scaling.tsv"
printf 'workers\tthreads\tseconds\tspeedup\tefficiency\n' > "$table"
for t in ${threads//,/ }; do
  base=""
  for k in $(seq 1 "$max"); do
    times=()
    for _ in $(seq "$runs"); do times+=("$(one_run "$k" "$t" "$@")"); done
    s=$(printf '%s\n' "${times[@]}" | median)
    [ -n "$base" ] || base=$s
    speedup=$(echo "$base / $s" | bc -l)
    printf '%d\t%s\t%.3f\t%.3f\t%.3f\n' "$k" "$t" "$s" "$speedup" \
      "$(echo "$speedup / $k" | bc -l)" | tee -a "$table"
  done
done

# The plot: two panels (seconds, speedup with the ideal line), one series per thread count.
awk -F'\t' -v max="$max" '
  NR == 1 { next }
  { w[NR] = $1; t[NR] = $2; s[NR] = $3; u[NR] = $4; n = NR
    if ($3 > smax) smax = $3; if ($4 > umax) umax = $4; seen[$2] = 1 }
  END {
    W = 420; H = 300; L = 60; B = 40; T = 30; R = 20
    if (umax < max) umax = max
    split("#1565c0 #ef6c00 #2e7d32 #c62828 #6a1b9a", color, " ")
    print "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" 2 * W "\" height=\"" H "\" font-family=\"sans-serif\" font-size=\"12\">"
    print "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    for (p = 0; p < 2; p++) {
      x0 = p * W + L; x1 = (p + 1) * W - R; y0 = H - B; y1 = T
      top = (p == 0) ? smax * 1.1 : umax * 1.1
      print "<text x=\"" (x0 + x1) / 2 "\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">" (p == 0 ? "seconds" : "speedup over 1 worker") "</text>"
      print "<line x1=\"" x0 "\" y1=\"" y0 "\" x2=\"" x1 "\" y2=\"" y0 "\" stroke=\"black\"/>"
      print "<line x1=\"" x0 "\" y1=\"" y0 "\" x2=\"" x0 "\" y2=\"" y1 "\" stroke=\"black\"/>"
      for (k = 1; k <= max; k++) {
        x = (max == 1) ? (x0 + x1) / 2 : x0 + (x1 - x0) * (k - 1) / (max - 1)
        print "<text x=\"" x "\" y=\"" y0 + 16 "\" text-anchor=\"middle\">" k "</text>"
      }
      print "<text x=\"" (x0 + x1) / 2 "\" y=\"" H - 6 "\" text-anchor=\"middle\">workers</text>"
      for (g = 0; g <= 4; g++) {
        v = top * g / 4; y = y0 - (y0 - y1) * g / 4
        printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", x0 - 6, y + 4, v
        printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>\n", x0, y, x1, y
      }
      if (p == 1 && max > 1)
        printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n", x0, y0 - (y0 - y1) / top, x1, y0 - (y0 - y1) * max / top
      c = 0
      for (tt in seen) {
        c++; pts = ""
        for (i = 2; i <= n; i++) if (t[i] == tt) {
          x = (max == 1) ? (x0 + x1) / 2 : x0 + (x1 - x0) * (w[i] - 1) / (max - 1)
          v = (p == 0) ? s[i] : u[i]
          y = y0 - (y0 - y1) * v / top
          pts = pts sprintf("%.1f,%.1f ", x, y)
          printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", x, y, color[c]
        }
        print "<polyline fill=\"none\" stroke=\"" color[c] "\" stroke-width=\"2\" points=\"" pts "\"/>"
        if (p == 1) print "<text x=\"" x0 + 10 "\" y=\"" y1 + 14 * c "\" fill=\"" color[c] "\">threads per worker: " tt "</text>"
      }
    }
    print "</svg>"
  }' "$table" > "$out/scaling.svg"
echo "wrote $table and $out/scaling.svg"
