#!/usr/bin/env bash
# Podman's Docker-compatible API, the second engine the tests run Plancton against.
#
#   podman.sh ensure    install podman (bookworm: 4.3) if missing, start its API service on
#                       $PLANCTON_PODMAN_SOCKET unless one already answers there, wait until
#                       /_ping answers, and copy the stand-in images the tests use
#                       (busybox:latest, debian:bookworm-slim) from the Docker engine into it
#   podman.sh stop      stop the API service this script started (pid file)
#   podman.sh status    exit 0 if the API answers
#
# No systemd here: cgroupfs manager and file events. These machines lack CAP_SYS_RESOURCE and
# podman's default rlimits (nofile/nproc raised to the hard limit) make every container fail
# to start, so the service runs with a containers.conf whose default_ulimits is empty.
set -euo pipefail
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
SOCKET=${PLANCTON_PODMAN_SOCKET:-/run/plancton-podman/podman.sock}
STATE=${SOCKET%/*}
CONF=$STATE/containers.conf
PIDFILE=$STATE/service.pid
LOG=${PLANCTON_PODMAN_LOG:-/tmp/plancton-podman.log}
IMAGES=(busybox:latest debian:bookworm-slim)

say() { printf 'podman.sh: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
answers() { [[ -S $SOCKET ]] && curl -fsS --max-time 10 --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1; }

ensure() {
  if ! command -v podman >/dev/null 2>&1; then
    say "installing podman with apt"
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y podman >&2
  fi
  mkdir -p "$STATE"
  cat >"$CONF.tmp" <<'CONF'
# Written by .ci/setup/podman.sh.
[containers]
# the default raises nofile/nproc to the hard limit, which needs CAP_SYS_RESOURCE
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  mv -f "$CONF.tmp" "$CONF"
  if answers; then
    say "podman API already answers on $SOCKET"
  else
    rm -f "$SOCKET"
    printf '\n==== podman.sh: starting at %s ====\n' "$(date -Is)" >>"$LOG"
    # from /: conmon needs the service's working directory, and a clone removed after a test
    # run took it away ("Failed to get working directory", every container fails to start)
    (cd / && CONTAINERS_CONF=$CONF exec setsid podman system service --time=0 "unix://$SOCKET") </dev/null >>"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 300); do answers && break; sleep 0.2; done
    answers || { tail -n 20 "$LOG" >&2; die "podman API does not answer on $SOCKET"; }
    say "podman $(podman --version | awk '{print $3}') API on $SOCKET (pid $(cat "$PIDFILE"), log $LOG)"
  fi
  local image
  for image in "${IMAGES[@]}"; do
    if CONTAINERS_CONF=$CONF podman image exists "$image"; then continue; fi
    docker image inspect "$image" >/dev/null 2>&1 || die "$image missing in the Docker engine (images.sh, debian-image.sh)"
    say "copying $image from the Docker engine"
    docker save "$image" | CONTAINERS_CONF=$CONF podman load -q >&2
  done
}

stop() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null || true)
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$PIDFILE"
}

case ${1:-} in
  ensure) ensure ;;
  stop) stop ;;
  status) answers ;;
  *) echo "usage: $0 ensure | stop | status" >&2; exit 2 ;;
esac
