#!/usr/bin/env bash
# Local stand-in for busybox:latest (no registry can be reached): the static busybox from
# Debian's busybox-static in an empty tree, one symlink per applet, imported with `docker
# import`. Does nothing when busybox:latest already exists. Needs a running engine
# (.ci/setup/engine.sh ensure).
set -euo pipefail

IMAGE=${PLANCTON_BUSYBOX_IMAGE:-busybox:latest}  # overridable to test the build itself
BUSYBOX=/bin/busybox

say() { printf 'images.sh: %s\n' "$*" >&2; }

if ! timeout 10 docker info >/dev/null 2>&1; then
  say "ERROR: the Docker Engine does not answer (run .ci/setup/engine.sh ensure)"
  exit 1
fi
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "$IMAGE already present"
  exit 0
fi

# The image has no libc: the binary must be static (ldd fails on a static executable).
if [[ ! -x $BUSYBOX ]] || ldd "$BUSYBOX" >/dev/null 2>&1; then
  say "installing busybox-static with apt"
  bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" busybox-static
fi

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree"/{bin,etc,home,root,tmp,usr/bin,var}
chmod 1777 "$tree/tmp"
chmod 700 "$tree/root"
cp "$BUSYBOX" "$tree/bin/busybox"
while read -r applet; do
  if [[ $applet != busybox ]]; then ln -sf busybox "$tree/bin/$applet"; fi
done < <("$tree/bin/busybox" --list)
if [[ ! -e $tree/bin/sh ]]; then ln -s busybox "$tree/bin/sh"; fi
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$tree/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$tree/etc/group"

say "building $IMAGE from $BUSYBOX ($("$BUSYBOX" --help 2>&1 | head -n 1))"
tar -C "$tree" --numeric-owner --owner=0 --group=0 -c . |
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["sh"]' \
    - "$IMAGE" >/dev/null

if ! out=$(docker run --rm "$IMAGE" sh -c 'echo ok' 2>&1) || [[ $out != ok ]]; then
  say "ERROR: $IMAGE was built but does not run: $out"
  exit 1
fi
say "$IMAGE built: $(docker image inspect --format '{{.Id}}' "$IMAGE")"
