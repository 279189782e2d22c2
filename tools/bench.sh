#!/usr/bin/env bash
# End-to-end benchmark of `wetmr count` (and `wetmr cluster`) against peers measured in the
# same run.
#
# Generates (once) a corpus with wetgen: one 200 MB file and four 50 MB files, plain and
# gzipped, a 400 MB gzipped file with ~2M distinct words for the memory figures, eight
# 25 MB gzipped files that are also counted over loopback HTTP (URL inputs), and the same
# shapes in `--profile web` (one new word per ~9 tokens, as real multilingual web text):
# an 85 MB file, plain and gzipped, and four 50 MB gzipped files. Then
# prints, for each case, the median wall time of wetmr and of its peer (`LC_ALL=C wc -w`,
# `gzip -dc`, `libdeflate-gunzip -c` when installed, FastWARC's read benchmark when
# `fastwarc` is on the PATH or in $FASTWARC) and their ratio, peak RSS, and the time of a
# tiny job. The machine is shared and noisy: read the ratios, not the seconds.
#
# Usage: tools/bench.sh [--dir DIR] [--runs N] [--quick]
#   --dir DIR   where the corpus lives (default: bench-corpus/, reused between runs)
#   --runs N    runs per measurement, the median is reported (default: 3)
#   --quick     a 10x smaller corpus, for a smoke test of this script
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/bench-corpus
runs=3
scale=1
while [ $# -gt 0 ]; do
  case $1 in
    --dir) dir=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --quick) scale=10; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 1 ;;
  esac
done

cd "$root"
cargo build --release --quiet --bin wetmr --bin wetgen
wetmr=$root/target/release/wetmr
wetgen=$root/target/release/wetgen
if [ "$scale" != 1 ]; then dir=$dir/quick; fi
mkdir -p "$dir"

mb() { echo $(( $1 / scale ))MB; }
gen() { # name size seed [--gzip]
  if [ ! -s "$dir/$1" ]; then
    "$wetgen" --size "$2" --seed "$3" "${@:4}" "$dir/$1.tmp"
    mv -f "$dir/$1.tmp" "$dir/$1"
  fi
}
echo "corpus in $dir (generated once)"
gen big.warc.wet "$(mb 200)" 1
gen big.warc.wet.gz "$(mb 200)" 1 --gzip
for i in 1 2 3 4; do
  gen "part$i.warc.wet" "$(mb 50)" $((i + 1))
  gen "part$i.warc.wet.gz" "$(mb 50)" $((i + 1)) --gzip
done
gen huge.warc.wet.gz "$(mb 400)" 9 --gzip
for i in 1 2 3 4 5 6 7 8; do
  gen "url$i.warc.wet.gz" "$(mb 25)" $((i + 20)) --gzip
done
gen web.warc.wet "$(mb 85)" 31 --profile web
gen web.warc.wet.gz "$(mb 85)" 31 --profile web --gzip
for i in 1 2 3 4; do
  gen "webpart$i.warc.wet.gz" "$(mb 50)" $((i + 31)) --profile web --gzip
done

# Warm the page cache so every contender reads from memory.
cat "$dir"/*.warc.wet* > /dev/null

# median_time CMD...: median wall seconds of $runs runs.
median_time() {
  local times=()
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s.%N)
    "$@" > /dev/null
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {printf "%.3f", (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}
size_mb() { du -cb "$@" | tail -1 | awk '{printf "%.1f", $1/1e6}'; }
plain_mb() { for f in "$@"; do gzip -dc "$f"; done | wc -c | awk '{printf "%.1f", $1/1e6}'; }

printf '\n%-34s %8s %8s   %-22s %8s %8s\n' "case" "wetmr s" "MB/s" "peer" "peer s" "ratio"
row() { # label wetmr_seconds input_mb peer_label peer_seconds
  local rate ratio
  rate=$(echo "$3 / $2" | bc -l)
  ratio=$(echo "$2 / $5" | bc -l)
  printf '%-34s %8.3f %8.1f   %-22s %8.3f %7.2fx\n' "$1" "$2" "$rate" "$4" "$5" "$ratio"
}
count() { "$wetmr" count --quiet --output /dev/null "$@"; }
wc_w() { LC_ALL=C wc -w "$@"; }
gunzip_all() { for f in "$@"; do gzip -dc "$f"; done; }
libdeflate_all() { for f in "$@"; do libdeflate-gunzip -c "$f"; done; }
have_libdeflate=$(command -v libdeflate-gunzip >/dev/null && echo 1 || echo 0)

big=$dir/big.warc.wet
parts=("$dir"/part{1,2,3,4}.warc.wet)
gzparts=("$dir"/part{1,2,3,4}.warc.wet.gz)

t_wc=$(median_time wc_w "$big")
row "plain $(mb 200), --threads 1" "$(median_time count --threads 1 "$big")" "$(size_mb "$big")" "LC_ALL=C wc -w" "$t_wc"
row "plain $(mb 200), --threads 2" "$(median_time count --threads 2 "$big")" "$(size_mb "$big")" "LC_ALL=C wc -w" "$t_wc"
t_wc4=$(median_time wc_w "${parts[@]}")
row "plain 4x$(mb 50), --threads 2" "$(median_time count --threads 2 "${parts[@]}")" "$(size_mb "${parts[@]}")" "LC_ALL=C wc -w" "$t_wc4"

t_big_gz=$(median_time count --threads 2 "$big.gz")
row "gz $(mb 200), --threads 2" "$t_big_gz" "$(size_mb "$big")" "gzip -dc" "$(median_time gunzip_all "$big.gz")"
if [ "$have_libdeflate" = 1 ]; then
  row "gz $(mb 200), --threads 2" "$t_big_gz" "$(size_mb "$big")" "libdeflate-gunzip -c" "$(median_time libdeflate_all "$big.gz")"
fi
t_parts_gz=$(median_time count --threads 2 "${gzparts[@]}")
row "gz 4x$(mb 50), --threads 2" "$t_parts_gz" "$(size_mb "${parts[@]}")" "gzip -dc" "$(median_time gunzip_all "${gzparts[@]}")"
if [ "$have_libdeflate" = 1 ]; then
  row "gz 4x$(mb 50), --threads 2" "$t_parts_gz" "$(size_mb "${parts[@]}")" "libdeflate-gunzip -c" "$(median_time libdeflate_all "${gzparts[@]}")"
fi
fastwarc=${FASTWARC:-$(command -v fastwarc || true)}
fastwarc_read() { "$fastwarc" benchmark "$@" 2> /dev/null; }
if [ -n "$fastwarc" ]; then
  # FastWARC reads and parses every record and counts nothing (one thread).
  row "gz $(mb 200), --threads 2" "$t_big_gz" "$(size_mb "$big")" "fastwarc benchmark" \
    "$(median_time fastwarc_read "$big.gz")"
fi

# High-vocabulary multilingual text (--profile web): threads must pay off here too.
web=$dir/web.warc.wet
webparts=("$dir"/webpart{1,2,3,4}.warc.wet.gz)
t_web1=$(median_time count --threads 1 "$web")
t_web2=$(median_time count --threads 2 "$web")
row "web plain $(mb 85), --threads 1" "$t_web1" "$(size_mb "$web")" "LC_ALL=C wc -w" "$(median_time wc_w "$web")"
row "web plain $(mb 85), --threads 2" "$t_web2" "$(size_mb "$web")" "count --threads 1" "$t_web1"
t_web_gz=$(median_time count --threads 2 "$web.gz")
if [ "$have_libdeflate" = 1 ]; then
  row "web gz $(mb 85), --threads 2" "$t_web_gz" "$(size_mb "$web")" "libdeflate-gunzip -c" "$(median_time libdeflate_all "$web.gz")"
else
  row "web gz $(mb 85), --threads 2" "$t_web_gz" "$(size_mb "$web")" "gzip -dc" "$(median_time gunzip_all "$web.gz")"
fi
echo "(MB/s counts decompressed WARC bytes; ratio = wetmr time / peer time, lower is better)"

# Memory: peak RSS (from wetmr's own stats) on the 400 MB file, once and four times.
stats=$(mktemp)
rss() {
  "$wetmr" count --quiet --threads 2 --output /dev/null --stats "$stats" "$@"
  sed -n 's/.*"\(peak_rss_bytes\|distinct_words\)": \([0-9]*\).*/\1 \2/p' "$stats"
}
# Peak RSS varies by a few percent with thread timing (when tables grow): medians of $runs.
median_rss() {
  for _ in $(seq "$runs"); do rss "$@" | awk '/peak_rss/ {print $2}'; done |
    sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
huge=$dir/huge.warc.wet.gz
read -r _ distinct < <(rss "$huge" | grep distinct)
one=$(median_rss "$huge")
four=$(median_rss "$huge" "$huge" "$huge" "$huge")
rm -f "$stats"
echo
printf 'peak RSS, %s gz (%s distinct words): %.0f MiB; same file x4: %.0f MiB (%+.1f%%)\n' \
  "$(mb 400)" "$distinct" "$(echo "$one / 1048576" | bc -l)" "$(echo "$four / 1048576" | bc -l)" \
  "$(echo "($four - $one) * 100 / $one" | bc -l)"

# Distributed: the same job through `wetmr cluster` (real worker processes on loopback).
cluster() { "$wetmr" cluster --quiet --output /dev/null "$@"; }
echo
t_cluster=$(median_time cluster --workers 2 --threads 1 "${gzparts[@]}")
row "cluster gz 4x$(mb 50), 2 workers x1" "$t_cluster" "$(size_mb "${parts[@]}")" "count --threads 2" "$t_parts_gz"
t_webparts=$(median_time count --threads 2 "${webparts[@]}")
row "cluster web gz 4x$(mb 50), 2 workers x1" "$(median_time cluster --workers 2 --threads 1 "${webparts[@]}")" \
  "$(plain_mb "${webparts[@]}")" "count --threads 2" "$t_webparts"
stats=$(mktemp)
cluster --workers 2 --threads 1 --stats "$stats" "${gzparts[@]}"
python3 - "$stats" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
w = d["cluster"]["workers"]
sent = sum(x["shuffle_bytes_sent"] for x in w)
kept = sum(x["shuffle_bytes_kept"] for x in w)
plain = d["warc_bytes"]
print(f"shuffle: {sent/1e6:.1f} MB sent + {kept/1e6:.1f} MB kept local = "
      f"{100*(sent+kept)/plain:.1f}% of {plain/1e6:.1f} MB plain input "
      f"(sent alone {100*sent/plain:.1f}%), R = {d['cluster']['partitions']}")
PY
rm -f "$stats"

# URL inputs: the same files served over loopback HTTP by tests/support/faultserver.py (a
# Python server that shares the two cores), at full speed and at a per-connection rate.
echo
serve() { # port_file [--rate B/s]: starts a server over $dir, prints its port
  local log
  log=$(mktemp)
  python3 "$root/tests/support/faultserver.py" "$dir" <(echo '{}') "$log" "$@" > "$1.port" &
  echo $! > "$1.pid"
  while [ ! -s "$1.port" ]; do sleep 0.05; done
}
stop_server() { kill "$(cat "$1.pid")" 2>/dev/null || true; rm -f "$1.port" "$1.pid"; }
srv=$(mktemp -u)
serve "$srv" ; port=$(head -1 "$srv.port")
big_url=http://127.0.0.1:$port/big.warc.wet.gz
t_url=$(median_time count --threads 2 "$big_url")
row "gz $(mb 200) over HTTP, --threads 2" "$t_url" "$(size_mb "$big")" "same file from disk" "$t_big_gz"
stats=$(mktemp)
# Peak RSS moves by about 10% between runs (thread timing, malloc's moving mmap
# threshold): the median of $runs.
rss_of() {
  for _ in $(seq "$runs"); do
    "$wetmr" count --quiet --threads 2 --output /dev/null --stats "$stats" "$@" &&
      sed -n 's/.*"peak_rss_bytes": \([0-9]*\).*/\1/p' "$stats"
  done | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
rss_disk=$(rss_of "$big.gz"); rss_url=$(rss_of "$big_url")
stop_server "$srv"
printf 'peak RSS, gz %s: from disk %.0f MiB, over HTTP %.0f MiB (%+.1f MiB)\n' "$(mb 200)" \
  "$(echo "$rss_disk / 1048576" | bc -l)" "$(echo "$rss_url / 1048576" | bc -l)" \
  "$(echo "($rss_url - $rss_disk) / 1048576" | bc -l)"
# Rate-limited: 8 files at 10 MB/s per connection, 4 downloads at once: the network allows
# 40 MB/s in all, which is the bound as long as counting is faster.
rate=$(( 10000000 / scale ))
serve "$srv" --rate "$rate"; port=$(head -1 "$srv.port")
urls=(); for i in 1 2 3 4 5 6 7 8; do urls+=("http://127.0.0.1:$port/url$i.warc.wet.gz"); done
t_rate=$(median_time count --threads 2 --downloads 4 "${urls[@]}")
gz_bytes=$(du -cb "$dir"/url?.warc.wet.gz | tail -1 | cut -f1)
ideal=$(echo "$gz_bytes / (4 * $rate)" | bc -l)
t_rate_disk=$(median_time count --threads 2 "$dir"/url?.warc.wet.gz)
rss_rate=$(rss_of --downloads 4 "${urls[@]}")
rss_rate_disk=$(rss_of "$dir"/url?.warc.wet.gz)
stop_server "$srv"
rm -f "$stats"
row "8 gz at $((rate / 1000000)) MB/s/conn, --downloads 4" "$t_rate" "$(size_mb "$dir"/url?.warc.wet.gz)" "bandwidth bound" "$ideal"
printf '  (%.1f MB compressed; the same files from disk take %.3f s; peak RSS %.0f MiB, from disk %.0f MiB)\n' \
  "$(echo "$gz_bytes / 1000000" | bc -l)" "$t_rate_disk" "$(echo "$rss_rate / 1048576" | bc -l)" \
  "$(echo "$rss_rate_disk / 1048576" | bc -l)"

# Start-up: a tiny job, end to end.
tiny=$(runs=11 median_time count "$root/data/sample.warc.wet.gz")
printf 'tiny input (data/sample.warc.wet.gz, %s MB): %.1f ms\n' "$(size_mb "$root/data/sample.warc.wet.gz")" \
  "$(echo "$tiny * 1000" | bc -l)"
tiny_cluster=$(runs=11 median_time cluster --workers 3 "$root/data/sample.warc.wet.gz")
printf 'tiny input through wetmr cluster --workers 3 (start 3 workers, run, stop): %.1f ms\n' \
  "$(echo "$tiny_cluster * 1000" | bc -l)"
