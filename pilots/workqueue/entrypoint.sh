#!/bin/bash
# A Plancton pilot: one cctools WorkQueue worker, run under the pilot contract (docs/pilots.md).
#
#   exit 0    the worker ran at least one task ("done": Plancton starts a fresh pilot)
#   exit 75   it never ran a task: no manager answered within the connect timeout, or the
#             manager had nothing for it within the idle timeout, or no time was left before
#             the deadline ("no work here": Plancton backs off)
#   exit 78   misconfigured (no manager given, a malformed number, an unreadable password
#             file): "failed"
#   other     work_queue_worker itself failed: its exit code, or 128 + the signal that ended it
#
# work_queue_worker exits 0 whether or not it got work, so the outcome is read from its debug
# stream (`-d wq`), which goes through a FIFO to a small awk filter that counts the tasks
# started and reported and forwards the interesting lines to the container's log (notices
# and errors the worker prints to stderr itself).
#
# SIGTERM (or SIGINT) from Plancton: the tasks running at that moment get until
# PLANCTON_STOP_TIMEOUT - WORKQUEUE_STOP_MARGIN seconds to finish and be reported to the
# manager, then the worker is told to go (it returns whatever is still running to the
# manager, which runs it elsewhere). An idle worker goes at once.
#
# Configuration (environment; README.md has the full table):
#   WORKQUEUE_MANAGER_HOST, WORKQUEUE_MANAGER_PORT (default 9123)   a manager by address, or
#   WORKQUEUE_PROJECT, WORKQUEUE_CATALOG (host:port, optional)      a manager by project name
#   WORKQUEUE_PASSWORD_FILE        the manager's password, as a mounted file
#   WORKQUEUE_IDLE_TIMEOUT (60)    seconds without a task before the worker leaves
#   WORKQUEUE_CONNECT_TIMEOUT      seconds to find a manager before giving up (default: idle timeout)
#   WORKQUEUE_STOP_MARGIN (5)      seconds kept back from PLANCTON_STOP_TIMEOUT
#   WORKQUEUE_CORES, WORKQUEUE_MEMORY (MB), WORKQUEUE_DISK (MB)   override what is announced
#   WORKQUEUE_WORKDIR (/tmp)       where task sandboxes are made
#   WORKQUEUE_WORKER_ARGS          more work_queue_worker options (split on white space);
#                                  arguments given to this script are appended too
#   WORKQUEUE_DEBUG=1              forward the worker's whole debug stream to the log
# and the contract's PLANCTON_CPUS, PLANCTON_MEMORY_BYTES, PLANCTON_DEADLINE, PLANCTON_STOP_TIMEOUT.
set -u

readonly EX_DONE=0 EX_NO_WORK=75 EX_CONFIG=78

say() { printf 'workqueue-pilot: %s\n' "$*" >&2; }
config_error() {
  say "configuration error: $*"
  exit "$EX_CONFIG"
}

# Fails unless $2 (named $1 in the message) is a non-negative integer.
check_uint() {
  [[ $2 =~ ^[0-9]+$ ]] || config_error "$1 must be a non-negative integer, not '$2'"
}

# --cores: PLANCTON_CPUS rounded up, at least 1 (a pilot with 0.5 CPU still runs one task at a time).
cores_of() {
  awk -v c="$1" 'BEGIN {
    if (c !~ /^([0-9]+\.?[0-9]*|\.[0-9]+)$/) exit 1
    n = int(c); if (n < c) n++; if (n < 1) n = 1; print n
  }'
}

# --- what to run -------------------------------------------------------------------------

manager_args=()
if [[ -n ${WORKQUEUE_MANAGER_HOST:-} ]]; then
  port=${WORKQUEUE_MANAGER_PORT:-9123}
  check_uint WORKQUEUE_MANAGER_PORT "$port"
  manager_args=("$WORKQUEUE_MANAGER_HOST" "$port")
  manager_desc="$WORKQUEUE_MANAGER_HOST:$port"
elif [[ -n ${WORKQUEUE_PROJECT:-} ]]; then
  manager_args=(-M "$WORKQUEUE_PROJECT")
  if [[ -n ${WORKQUEUE_CATALOG:-} ]]; then manager_args+=(-C "$WORKQUEUE_CATALOG"); fi
  manager_desc="project $WORKQUEUE_PROJECT (catalog ${WORKQUEUE_CATALOG:-default})"
else
  config_error "set WORKQUEUE_MANAGER_HOST (and WORKQUEUE_MANAGER_PORT) or WORKQUEUE_PROJECT"
fi

idle=${WORKQUEUE_IDLE_TIMEOUT:-60}
check_uint WORKQUEUE_IDLE_TIMEOUT "$idle"
connect=${WORKQUEUE_CONNECT_TIMEOUT:-$idle}
check_uint WORKQUEUE_CONNECT_TIMEOUT "$connect"
margin=${WORKQUEUE_STOP_MARGIN:-5}
check_uint WORKQUEUE_STOP_MARGIN "$margin"
stop_timeout=${PLANCTON_STOP_TIMEOUT:-10}
check_uint PLANCTON_STOP_TIMEOUT "$stop_timeout"
grace=$((stop_timeout > margin ? stop_timeout - margin : 0))

if [[ -n ${WORKQUEUE_CORES:-} ]]; then
  check_uint WORKQUEUE_CORES "$WORKQUEUE_CORES"
  cores=$WORKQUEUE_CORES
else
  cores=$(cores_of "${PLANCTON_CPUS:-1}") || config_error "PLANCTON_CPUS must be a number, not '${PLANCTON_CPUS:-}'"
fi

resource_args=(--cores "$cores")
if [[ -n ${WORKQUEUE_MEMORY:-} ]]; then
  check_uint WORKQUEUE_MEMORY "$WORKQUEUE_MEMORY"
  resource_args+=(--memory "$WORKQUEUE_MEMORY")
else
  memory_bytes=${PLANCTON_MEMORY_BYTES:-0}
  check_uint PLANCTON_MEMORY_BYTES "$memory_bytes"
  # 0 means no limit: the worker measures the machine itself
  if ((memory_bytes >= 1048576)); then resource_args+=(--memory "$((memory_bytes / 1048576))"); fi
fi
if [[ -n ${WORKQUEUE_DISK:-} ]]; then
  check_uint WORKQUEUE_DISK "$WORKQUEUE_DISK"
  resource_args+=(--disk "$WORKQUEUE_DISK")
fi

# The worker announces when it must end ("worker-end-time"): the manager gives it no task that
# declares a longer minimum running time, and it returns what still runs at that moment. The
# last moment a task can finish is the deadline plus the stop grace Plancton gives after its
# stop signal there, less the margin.
if [[ -n ${PLANCTON_DEADLINE:-} ]]; then
  check_uint PLANCTON_DEADLINE "$PLANCTON_DEADLINE"
  wall=$((PLANCTON_DEADLINE + grace - $(date +%s)))
  if ((wall < 1)); then
    say "no time left before the deadline ($PLANCTON_DEADLINE): not starting"
    exit "$EX_NO_WORK"
  fi
  resource_args+=(--wall-time "$wall")
fi

auth_args=()
if [[ -n ${WORKQUEUE_PASSWORD_FILE:-} ]]; then
  [[ -r $WORKQUEUE_PASSWORD_FILE ]] || config_error "WORKQUEUE_PASSWORD_FILE $WORKQUEUE_PASSWORD_FILE cannot be read"
  auth_args=(-P "$WORKQUEUE_PASSWORD_FILE")
fi

extra_args=()
if [[ -n ${WORKQUEUE_WORKER_ARGS:-} ]]; then read -r -a extra_args <<<"$WORKQUEUE_WORKER_ARGS"; fi
extra_args+=("$@")

workdir=${WORKQUEUE_WORKDIR:-${TMPDIR:-/tmp}}
state=$(mktemp -d "$workdir/workqueue-pilot.XXXXXX") || config_error "cannot write to WORKQUEUE_WORKDIR $workdir"
fifo=$state/debug.fifo
mkfifo "$fifo" || config_error "cannot make a FIFO in $state"

# --- the debug stream: counters and a readable log -----------------------------------------

# mawk (Debian's awk) reads a pipe in blocks unless told to read line by line.
awk_args=()
if awk -W version 2>/dev/null | grep -q mawk; then awk_args=(-W interactive); fi

# started: tasks the worker started; reported: results it sent to the manager.
# Both spellings of the protocol trace are matched ("tx: result" in newer cctools).
awk "${awk_args[@]}" -v state="$state" -v verbose="${WORKQUEUE_DEBUG:-0}" '
  function put(name, value,   file) { file = state "/" name; print value > file; close(file) }
  function show() { print > "/dev/stderr"; fflush("/dev/stderr") }
  BEGIN { started = 0; reported = 0; put("started", 0); put("reported", 0) }
  / wq: started process / { started++; put("started", started) }
  / wq: tx( to manager)?: result / { reported++; put("reported", reported) }
  verbose == "1" { show(); next }
  / wq: (connected to manager|released by manager|disconnecting from manager|task [0-9]+ \(pid)/ { show(); next }
  / wq: rx( from manager)?: task [0-9]+$/ { show(); next }
' <"$fifo" &
filter_pid=$!

counter() {
  local n=0
  read -r n <"$state/$1" 2>/dev/null || true
  printf '%s' "${n:-0}"
}

# --- run it ------------------------------------------------------------------------------

stopping=0
trap 'stopping=1' TERM INT

cmd=(work_queue_worker --single-shot --parent-death
  --idle-timeout "$idle" --connect-timeout "$connect"
  "${resource_args[@]}" --workdir "$workdir"
  -d wq -o "$fifo" --debug-rotate-max=0
  "${auth_args[@]}" "${extra_args[@]}" "${manager_args[@]}")
say "pilot ${PLANCTON_PILOT_ID:-?} on ${PLANCTON_HOST:-?}: manager $manager_desc; ${resource_args[*]}; idle ${idle}s, connect ${connect}s, stop grace ${grace}s"
"${cmd[@]}" &
worker_pid=$!

# Lets the tasks running now finish within the grace, then tells the worker to go.
drain() {
  local started reported end
  started=$(counter started)
  reported=$(counter reported)
  if ((started > reported && grace > 0)); then
    say "stop signal: giving $((started - reported)) running task(s) up to ${grace}s to finish"
    end=$((SECONDS + grace))
    while ((SECONDS < end)) && kill -0 "$worker_pid" 2>/dev/null; do
      if (($(counter reported) >= started)); then break; fi
      sleep 0.2
    done
  else
    say "stop signal: no task running, leaving"
  fi
  kill -TERM "$worker_pid" 2>/dev/null || true
}

drained=0
while :; do
  wait "$worker_pid"
  status=$?
  # `wait` also returns when a trapped signal arrives: the worker may still run (or be a zombie).
  if ((stopping && !drained)) && kill -0 "$worker_pid" 2>/dev/null; then
    drained=1
    drain
    continue
  fi
  if kill -0 "$worker_pid" 2>/dev/null; then continue; fi
  break
done

# Let the filter read to the end of the stream. Opening the FIFO read-write never blocks, and
# unblocks a filter still waiting for a writer (the worker may have failed before opening it).
exec 3<>"$fifo"
exec 3>&-
# A task left behind by the worker may hold the stream open: wait 2 s at most.
for _ in $(seq 20); do
  kill -0 "$filter_pid" 2>/dev/null || break
  sleep 0.1
done
kill "$filter_pid" 2>/dev/null || true
wait "$filter_pid" 2>/dev/null

started=$(counter started)
reported=$(counter reported)
rm -rf "$state"

if ((!stopping && status != 0)); then
  say "work_queue_worker failed with status $status after $started task(s)"
  exit "$status"
fi
if ((started > 0)); then
  say "done: ran $started task(s), reported $reported"
  exit "$EX_DONE"
fi
if ((stopping)); then say "no work: stopped before any task"; else say "no work: no task within the connect/idle timeout"; fi
exit "$EX_NO_WORK"
