#!/usr/bin/env bash
# What the HTCondor pilot tests need (test/e2e/htcondor-*.test.ts), built when missing or stale:
#
#   - the debian:trixie-slim stand-in (debian-image.sh trixie: HTCondor is not in bookworm),
#   - the Debian flavour of the pilot, pilots/htcondor/Dockerfile.debian, as
#     plancton-pilot-htcondor:test (also the tests' central manager); later builds hit the
#     engine's cache, so the tests' own `docker build` of it costs seconds.
#
# Needs root and a running engine (.ci/setup/engine.sh ensure). Idempotent.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/../.."
# shellcheck disable=SC1091 # versions.sh: plain assignments, checked on its own
. "$here/versions.sh"

say() { printf 'htcondor-setup.sh: %s\n' "$*" >&2; }
t0=$SECONDS
bash .ci/setup/debian-image.sh "$PLANCTON_NEW_SUITE"
say "building pilots/htcondor/Dockerfile.debian as plancton-pilot-htcondor:test"
docker build -q -f pilots/htcondor/Dockerfile.debian --build-arg "BASE_IMAGE=debian:$PLANCTON_NEW_SUITE-slim" \
  -t plancton-pilot-htcondor:test pilots/htcondor >/dev/null
say "ready after $((SECONDS - t0)) s: $(docker run --rm --entrypoint condor_version plancton-pilot-htcondor:test | head -n 1)"
