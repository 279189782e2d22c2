#!/usr/bin/env bash
# Deploy, check or stop `wetmr worker` on every machine of a machines file, over ssh.
#
# Usage: tools/deploy.sh [--start | --status | --stop] [OPTIONS] [-- WORKER_OPTIONS...]
#   --machines FILE    the machines file: host:port per line (# comments; default port 7070)
#                      [default: machines.txt]
#   --binary PATH      the wetmr binary to copy [default: target/release/wetmr]
#   --remote-dir DIR   where it goes on each host (relative to the remote home unless
#                      absolute) [default: wetmr]
#   --ssh-config FILE  an ssh_config for ssh and scp (user, key, port, host key policy)
#   after --            options passed to `wetmr worker` (e.g. --threads 8)
#
# --start (the default) copies the binary once per host with scp, then starts one worker
# per line with nohup, listening on that line's host:port, its log in
# DIR/worker-PORT.log and its pid in DIR/worker-PORT.pid. A worker already running there is
# left alone. --status says for each line whether its worker runs; --stop sends it SIGTERM
# and waits for it to exit. The exit code is 0 when every line succeeded.
set -euo pipefail

action=start
machines=machines.txt
binary=target/release/wetmr
remote_dir=wetmr
ssh_opts=(-o BatchMode=yes)
worker_opts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --start) action=start ;;
    --status) action=status ;;
    --stop) action=stop ;;
    --machines) machines=$2; shift ;;
    --binary) binary=$2; shift ;;
    --remote-dir) remote_dir=$2; shift ;;
    --ssh-config) ssh_opts+=(-F "$2"); shift ;;
    --) shift; worker_opts=("$@"); break ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "deploy.sh: unknown option $1 (see --help)" >&2; exit 1 ;;
  esac
  shift
done

[ -f "$machines" ] || { echo "deploy.sh: $machines: no such file" >&2; exit 1; }
if [ "$action" = start ] && [ ! -x "$binary" ]; then
  echo "deploy.sh: $binary: not an executable (build it: cargo build --release)" >&2
  exit 1
fi

# host:port lines; a bare host gets the default port. [v6]:port is kept as is.
entries=()
while IFS= read -r line || [ -n "$line" ]; do
  line=${line%%#*}
  line=$(echo "$line" | tr -d '[:space:]')
  [ -z "$line" ] && continue
  case "$line" in
    \[*\]:*) entries+=("$line") ;;
    *:*:*) entries+=("[$line]:7070") ;;
    *:*) entries+=("$line") ;;
    *) entries+=("$line:7070") ;;
  esac
done < "$machines"
[ ${#entries[@]} -gt 0 ] || { echo "deploy.sh: $machines lists no machines" >&2; exit 1; }

host_of() { local h=${1%:*}; h=${h#[}; echo "${h%]}"; }
port_of() { echo "${1##*:}"; }
q() { printf '%q' "$1"; }

failed=0
copied=" "
for entry in "${entries[@]}"; do
  host=$(host_of "$entry")
  port=$(port_of "$entry")
  pid_file="$remote_dir/worker-$port.pid"
  log_file="$remote_dir/worker-$port.log"
  case "$action" in
    start)
      if [[ "$copied" != *" $host "* ]]; then
        ssh "${ssh_opts[@]}" "$host" "mkdir -p $(q "$remote_dir")"
        scp -q "${ssh_opts[@]}" "$binary" "$host:$remote_dir/wetmr.new"
        ssh "${ssh_opts[@]}" "$host" "mv -f $(q "$remote_dir/wetmr.new") $(q "$remote_dir/wetmr")"
        copied+="$host "
      fi
      opts=""
      for o in "${worker_opts[@]}"; do opts+=" $(q "$o")"; done
      # The worker prints its address on stdout once it listens: wait for that line.
      if ssh "${ssh_opts[@]}" "$host" "
          cd $(q "$remote_dir") || exit 1
          if [ -f $(q "worker-$port.pid") ] && kill -0 \$(cat $(q "worker-$port.pid")) 2>/dev/null; then
            echo already running; exit 0
          fi
          rm -f $(q "worker-$port.addr")
          nohup ./wetmr worker --listen $(q "$entry")$opts \
            > $(q "worker-$port.addr") 2> $(q "worker-$port.log") < /dev/null &
          echo \$! > $(q "worker-$port.pid")
          for i in \$(seq 100); do
            [ -s $(q "worker-$port.addr") ] && { echo started, pid \$(cat $(q "worker-$port.pid")); exit 0; }
            kill -0 \$! 2>/dev/null || break
            sleep 0.1
          done
          echo failed to start:; tail -n 5 $(q "worker-$port.log"); exit 1
        " | sed "s|^|$entry: |"; then :; else failed=1; fi
      ;;
    status)
      if ssh "${ssh_opts[@]}" "$host" "
          [ -f $(q "$pid_file") ] && kill -0 \$(cat $(q "$pid_file")) 2>/dev/null \
            && echo running, pid \$(cat $(q "$pid_file")), log $(q "$log_file")
        " | sed "s|^|$entry: |" | grep .; then :; else
        echo "$entry: not running"; failed=1
      fi
      ;;
    stop)
      if ssh "${ssh_opts[@]}" "$host" "
          [ -f $(q "$pid_file") ] || { echo not running; exit 0; }
          pid=\$(cat $(q "$pid_file"))
          kill -TERM \$pid 2>/dev/null || { rm -f $(q "$pid_file"); echo not running; exit 0; }
          for i in \$(seq 100); do kill -0 \$pid 2>/dev/null || break; sleep 0.1; done
          kill -0 \$pid 2>/dev/null && { echo still running after SIGTERM, pid \$pid; exit 1; }
          rm -f $(q "$pid_file"); echo stopped
        " | sed "s|^|$entry: |"; then :; else failed=1; fi
      ;;
  esac
done
exit $failed
