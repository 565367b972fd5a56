#!/usr/bin/env bash
# The Docker Engine the tests run against: Debian's docker.io, started by hand (no systemd).
#
#   engine.sh ensure    install docker.io and busybox-static if missing; start dockerd unless
#                       one already answers (it is then reused); wait until `docker info` works
#   engine.sh stop      stop the running dockerd, whoever started it: SIGTERM, wait until it is
#                       gone, SIGKILL after the timeout. dockerd first stops every running
#                       container, giving each its stop timeout (10 s by default; a `sleep` as
#                       PID 1 ignores SIGTERM and uses all of it).
#   engine.sh stop --fast
#                       the same, after SIGKILLing the running containers (about 1 s)
#   engine.sh restart   stop, then ensure
#   engine.sh status    exit 0 if the engine answers
#
# Environment: PLANCTON_DOCKERD_LOG (default /tmp/plancton-dockerd.log),
#              PLANCTON_ENGINE_TIMEOUT (seconds to wait for start and for stop, default 60).
set -euo pipefail

# dockerd lives in /usr/sbin, which a non-login PATH may lack.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
LOG=${PLANCTON_DOCKERD_LOG:-/tmp/plancton-dockerd.log}
TIMEOUT=${PLANCTON_ENGINE_TIMEOUT:-60}
PIDFILE=/var/run/docker.pid
CONTAINERD_PIDFILE=/var/run/docker/containerd/containerd.pid
LOCK=/var/lock/plancton-engine.lock

say() { printf 'engine.sh: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# Seconds since the epoch, with milliseconds.
now() { date +%s.%3N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

answers() { timeout 10 docker info >/dev/null 2>&1; }

# A live (not zombie) process with this pid and this command name (any name if empty)?
alive() {
  local pid=$1 name=${2:-} stat
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  # /proc/PID/stat is "PID (COMM) STATE ...": check COMM and skip zombies.
  if [[ -n $name && $stat != "$pid ($name) "* ]]; then return 1; fi
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

dockerd_pids() {
  local dir pid
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    if alive "$pid" dockerd; then printf '%s\n' "$pid"; fi
  done
}

any_alive() {
  local name=$1 pid
  shift
  for pid in "$@"; do
    if alive "$pid" "$name"; then return 0; fi
  done
  return 1
}

log_tail() {
  say "last lines of $LOG:"
  tail -n 30 "$LOG" >&2 2>/dev/null || true
}

install_missing() {
  local packages=()
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    packages+=(docker.io)
  fi
  if [[ ! -x /bin/busybox ]]; then packages+=(busybox-static); fi
  if ((${#packages[@]} == 0)); then return 0; fi
  say "installing ${packages[*]} with apt"
  bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" "${packages[@]}"
}

# Pid files left by an engine that died (or was SIGKILLed) make a new dockerd refuse to start
# ("pid file found") or adopt an unrelated process that reused the pid. Called with no dockerd
# running, so /var/run/docker.pid is always stale; containerd's is stale unless its pid is a
# live containerd (an orphan dockerd will reconnect to).
remove_stale_pidfiles() {
  local pid
  if [[ -e $PIDFILE ]]; then
    say "removing stale $PIDFILE"
    rm -f "$PIDFILE"
  fi
  if [[ -e $CONTAINERD_PIDFILE ]]; then
    pid=$(tr -dc 0-9 <"$CONTAINERD_PIDFILE" 2>/dev/null || true)
    if [[ -z $pid ]] || ! alive "$pid" containerd; then
      say "removing stale $CONTAINERD_PIDFILE"
      rm -f "$CONTAINERD_PIDFILE"
    fi
  fi
}

start_dockerd() {
  printf '\n==== engine.sh: starting dockerd at %s ====\n' "$(date -Is)" >>"$LOG"
  # New session, no terminal, stdin from /dev/null, output to the log, and no descriptor of
  # the caller kept open (a caller reading our output through a pipe must see it close).
  (
    for fd in "/proc/$BASHPID/fd"/*; do
      fd=${fd##*/}
      if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    # from /, not the caller's directory: a clone removed after a test run must not take the
    # engine's working directory with it
    cd /
    exec setsid dockerd
  ) </dev/null >>"$LOG" 2>&1 &
  STARTED_PID=$!
}

ensure() {
  local t0 pids deadline
  t0=$(now)
  install_missing
  if answers; then
    say "engine already running, reusing it"
    return 0
  fi

  deadline=$((SECONDS + TIMEOUT))
  mapfile -t pids < <(dockerd_pids)
  if ((${#pids[@]} > 0)); then
    # Starting or stopping: wait until it answers or is gone.
    say "dockerd (pid ${pids[*]}) runs but does not answer yet; waiting"
    while any_alive dockerd "${pids[@]}"; do
      if answers; then
        say "engine ready after $(since "$t0") s"
        return 0
      fi
      if ((SECONDS >= deadline)); then
        log_tail
        die "dockerd (pid ${pids[*]}) neither answers nor exits after ${TIMEOUT} s"
      fi
      sleep 0.2
    done
  fi

  remove_stale_pidfiles
  start_dockerd
  say "started dockerd (pid $STARTED_PID), log in $LOG"
  deadline=$((SECONDS + TIMEOUT))
  until answers; do
    if ! alive "$STARTED_PID" && [[ -z $(dockerd_pids) ]]; then
      log_tail
      die "dockerd (pid $STARTED_PID) exited before answering"
    fi
    if ((SECONDS >= deadline)); then
      log_tail
      die "dockerd (pid $STARTED_PID) does not answer after ${TIMEOUT} s (left running)"
    fi
    sleep 0.2
  done
  say "engine ready after $(since "$t0") s"
}

stop() {
  local fast=${1:-} t0 pids containerd="" deadline running
  t0=$(now)
  mapfile -t pids < <(dockerd_pids)
  if ((${#pids[@]} == 0)); then
    say "no dockerd running"
    return 0
  fi
  if [[ $fast == --fast ]] && running=$(timeout 10 docker ps -q 2>/dev/null) && [[ -n $running ]]; then
    say "killing running containers: $(echo "$running" | tr '\n' ' ')"
    # shellcheck disable=SC2086 # one id per word
    timeout 30 docker kill $running >/dev/null 2>&1 || true
  fi
  if [[ -e $CONTAINERD_PIDFILE ]]; then
    containerd=$(tr -dc 0-9 <"$CONTAINERD_PIDFILE" 2>/dev/null || true)
  fi

  say "stopping dockerd (pid ${pids[*]})"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  deadline=$((SECONDS + TIMEOUT))
  while any_alive dockerd "${pids[@]}"; do
    if ((SECONDS >= deadline)); then
      say "dockerd still running after ${TIMEOUT} s: SIGKILL"
      kill -KILL "${pids[@]}" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      while any_alive dockerd "${pids[@]}"; do
        if ((SECONDS >= deadline)); then die "dockerd (pid ${pids[*]}) survives SIGKILL"; fi
        sleep 0.2
      done
      break
    fi
    sleep 0.2
  done

  # dockerd stops the containerd it runs; give it a moment so a restart finds a clean state.
  if [[ -n $containerd ]]; then
    deadline=$((SECONDS + 10))
    while alive "$containerd" containerd && ((SECONDS < deadline)); do sleep 0.2; done
  fi
  if answers; then die "an engine still answers after dockerd stopped (another DOCKER_HOST?)"; fi
  say "engine stopped after $(since "$t0") s"
}

status() {
  local version
  if version=$(timeout 10 docker info --format '{{.ServerVersion}}' 2>/dev/null) && [[ -n $version ]]; then
    echo "engine running (Docker Engine $version)"
  else
    echo "engine not answering"
    return 1
  fi
}

usage() {
  echo "usage: $0 ensure | stop [--fast] | restart [--fast] | status" >&2
  exit 2
}

# One ensure/stop/restart at a time, so two callers never start two dockerds.
lock() {
  mkdir -p "${LOCK%/*}"
  exec 9>"$LOCK"
  flock -w $((2 * TIMEOUT + 30)) 9 || die "another engine.sh holds $LOCK"
}

if (($# > 2)) || [[ -n ${2:-} && ! (${1:-} =~ ^(stop|restart)$ && $2 == --fast) ]]; then usage; fi
case ${1:-} in
  ensure) lock; ensure ;;
  stop) lock; stop "${2:-}" ;;
  restart) lock; stop "${2:-}"; ensure ;;
  status) status ;;
  *) usage ;;
esac
