#!/usr/bin/env bash
# A local stand-in for Debian's official slim image of one suite (no registry can be reached):
#
#   debian-image.sh SUITE [IMAGE]     e.g. debian-image.sh trixie   -> debian:trixie-slim
#
# debootstrap --variant=minbase SUITE, trimmed like the official slim image (deb822 sources
# with updates and security, no docs or man pages installed later, apt caches cleaned), then
# `docker import`ed as IMAGE (default debian:SUITE-slim). Does nothing when IMAGE exists.
# The archive is the one this machine's apt uses (debian-mirror.sh), or debootstrap's own
# default. Needs a running engine (.ci/setup/engine.sh ensure) and root (debootstrap).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

SUITE=${1:?usage: debian-image.sh SUITE [IMAGE]}
IMAGE=${2:-debian:$SUITE-slim}
IMAGE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# debootstrap and chroot live in /usr/sbin, which a non-login PATH may lack.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

say() { printf 'debian-image.sh: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

if ! timeout 10 docker info >/dev/null 2>&1; then
  die "the Docker Engine does not answer (run .ci/setup/engine.sh ensure)"
fi
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "$IMAGE already present"
  exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  say "installing debootstrap with apt"
  bash "$here/apt-install.sh" debootstrap
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mirror=$(bash "$here/debian-mirror.sh") || mirror=
t0=$SECONDS
say "debootstrap --variant=minbase $SUITE from ${mirror:-the default mirror of debootstrap} (about 25 s)"
debootstrap --variant=minbase "$SUITE" "$root" ${mirror:+"$mirror"} \
  >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap $SUITE failed"; }
# The archive the tree was bootstrapped from, as debootstrap wrote it.
mirror=${mirror:-$(awk '$1 == "deb" { print $2; exit }' "$root/etc/apt/sources.list" 2>/dev/null)}
[[ -n $mirror ]] || die "cannot tell which archive debootstrap used"

# What the official slim image carries: deb822 sources with updates and security, no
# documentation installed by later apt-get runs, apt caches cleaned after each install.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: ${mirror}
Suites: ${SUITE} ${SUITE}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: ${SUITE}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
DPKG
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
printf 'Acquire::GzipIndexes "true";\n' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
# Trim what debootstrap installed the same way, and drop its caches and logs.
find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$root"/usr/share/{man,info,groff,lintian,linda,locale}/* \
  "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
  "$root"/var/log/* "$root"/tmp/* "$root"/root/.bash_history
: >"$root/etc/machine-id"
say "importing $IMAGE"
tar -C "$root" --numeric-owner -c . |
  docker import --change "ENV PATH=$IMAGE_PATH" --change 'CMD ["bash"]' - "$IMAGE" >/dev/null
say "$IMAGE built after $((SECONDS - t0)) s: Debian $(docker run --rm "$IMAGE" cat /etc/debian_version)"
