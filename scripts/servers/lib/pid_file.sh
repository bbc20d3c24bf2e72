# What the Java servers' scripts share (sourced): waiting for a server started in the background,
# and stopping it by its pid file.

# wait_started <pid file> <log> <name> <command>: runs <command> every 0.1 s, for at most 3 minutes,
# until it succeeds (returns 0) or the process is gone (prints the log's end, returns 1).
wait_started() {
  local pid_file=$1 log=$2 name=$3
  shift 3
  for _ in $(seq 1800); do
    if "$@"; then return 0; fi
    kill -0 "$(cat "$pid_file")" 2>/dev/null || break
    sleep 0.1
  done
  echo "$name did not start; see $log:" >&2
  tail -n 20 "$log" >&2 || true
  return 1
}

# stop_pid_file <pid file>: TERM, 30 s to go, then KILL.
stop_pid_file() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}
