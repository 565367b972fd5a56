#!/usr/bin/env bash
# What the WorkQueue pilot tests need on the host, installed when missing (idempotent):
#
#   - cctools WorkQueue for the manager on the host: Debian's python3-workqueue (the Python
#     module, for /usr/bin/python3) and coop-computing-tools (work_queue_worker, handy to
#     compare with the pilot)
#   - shellcheck, for the pilots' scripts (test/unit/project/pilots-scripts.test.ts)
#   - the debian:bookworm-slim stand-in the pilot image is built FROM (no registry here):
#     .ci/setup/node-image.sh builds it, with the node image beside it
#
# Needs root (apt) and, for the image, a running engine (.ci/setup/engine.sh ensure).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

say() { printf 'workqueue-setup.sh: %s\n' "$*" >&2; }

packages=()
if ! /usr/bin/python3 -c 'import work_queue' >/dev/null 2>&1; then packages+=(python3-workqueue); fi
if ! command -v work_queue_worker >/dev/null 2>&1; then packages+=(coop-computing-tools); fi
if ! command -v shellcheck >/dev/null 2>&1; then packages+=(shellcheck); fi
if ((${#packages[@]} > 0)); then
  say "installing ${packages[*]} with apt"
  bash .ci/setup/apt-install.sh --no-install-recommends "${packages[@]}"
fi
/usr/bin/python3 -c 'import work_queue' || { say "ERROR: /usr/bin/python3 still cannot import work_queue"; exit 1; }

if docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
  say "debian:bookworm-slim already present"
else
  bash .ci/setup/node-image.sh
fi
say "ready: $(work_queue_worker --version 2>&1 | head -n 1), $(shellcheck --version | sed -n 2p)"
