#!/usr/bin/env bash
# Docker Engine 26 (Debian trixie's docker.io) in a privileged container: the second Docker
# engine the tests run Plancton against, and exactly the chart's dind mode.
#
#   docker26.sh image     build the stand-in image $PLANCTON_DIND_IMAGE (default docker:26-dind,
#                         also tagged docker:dind, the chart's default sidecar image) FROM the
#                         debian:trixie-slim stand-in (built by debian-image.sh trixie only)
#   docker26.sh ensure    the image, then a running engine container $PLANCTON_DOCKER26_NAME
#                         (default plancton-ci-docker26) whose socket is
#                         $PLANCTON_DOCKER26_SOCKET (default /run/plancton-docker26/docker.sock)
#                         on the host, with busybox:latest loaded into it; reused when it answers
#   docker26.sh stop      remove that container (only it)
#   docker26.sh status    exit 0 if the engine answers
# Needs the host engine, busybox:latest and privileged containers (engine.sh, images.sh,
# privileged-runtime.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.sh
. "$here/versions.sh"
IMAGE=${PLANCTON_DIND_IMAGE:-docker:26-dind}
NAME=${PLANCTON_DOCKER26_NAME:-plancton-ci-docker26}
SOCKET=${PLANCTON_DOCKER26_SOCKET:-/run/plancton-docker26/docker.sock}
BASE=debian:$PLANCTON_NEW_SUITE-slim
LOADED=(busybox:latest)

say() { printf 'docker26.sh: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
inner() { timeout 30 docker --host "unix://$SOCKET" "$@"; }
answers() { [[ -S $SOCKET ]] && inner version >/dev/null 2>&1; }

image() {
  if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    say "$IMAGE already present"
  else
    bash "$here/debian-image.sh" "$PLANCTON_NEW_SUITE"
    say "building $IMAGE FROM $BASE (apt-get install docker.io)"
    docker build -q --build-arg "BASE=$BASE" -t "$IMAGE" "$here/docker26" >/dev/null
  fi
  docker tag "$IMAGE" docker:dind
  say "$IMAGE: $(docker run --rm --entrypoint dockerd "$IMAGE" --version)"
}

ensure() {
  image
  if answers; then
    say "Docker $(inner version --format '{{.Server.Version}}') already answers on $SOCKET"
  else
    # A container left by an engine that was killed (a stopped session) is replaced; its first
    # successor has been seen to exit at once (status 2, no output), so up to three tries.
    local try
    for try in 1 2 3; do
      docker rm -f "$NAME" >/dev/null 2>&1 || true
      mkdir -p "${SOCKET%/*}"
      rm -f "$SOCKET"
      docker run -d --privileged --name "$NAME" --label plancton-ci=docker26 \
        -v "${SOCKET%/*}:/run/plancton-dind" "$IMAGE" dockerd --host=unix:///run/plancton-dind/"${SOCKET##*/}" >/dev/null
      for _ in $(seq 300); do
        answers && break
        [[ $(docker inspect -f '{{.State.Running}}' "$NAME" 2>/dev/null) == true ]] || break
        sleep 0.2
      done
      answers && break
      say "try $try: Docker 26 did not come up ($(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$NAME" 2>/dev/null))"
      sleep 2
    done
    answers || { docker logs --tail 30 "$NAME" >&2; die "Docker 26 does not answer on $SOCKET"; }
    say "Docker $(inner version --format '{{.Server.Version}} (API {{.Server.APIVersion}})') on $SOCKET ($NAME)"
  fi
  local img
  for img in "${LOADED[@]}"; do
    if inner image inspect "$img" >/dev/null 2>&1; then continue; fi
    say "loading $img into $NAME"
    docker save "$img" | timeout 120 docker --host "unix://$SOCKET" load -q >&2
  done
}

case ${1:-} in
  image) image ;;
  ensure) ensure ;;
  stop) docker rm -f "$NAME" >/dev/null 2>&1 || true ;;
  status) answers ;;
  *) echo "usage: $0 image | ensure | stop | status" >&2; exit 2 ;;
esac
