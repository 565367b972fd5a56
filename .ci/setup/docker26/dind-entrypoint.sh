#!/bin/sh
# The stand-in's entrypoint, doing what the upstream docker:dind image's dockerd-entrypoint.sh
# does for the chart's sidecar: no arguments or options only -> dockerd with them; anything
# else is run as given (`dockerd --host=...` from the chart, `docker ...` from a probe).
set -e
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then set -- dockerd "$@"; fi
if [ "$1" = dockerd ]; then
  # a dockerd that died with the container leaves its pid files in a kept /var/run
  rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
  # securityfs, as upstream's `dind` script mounts it (AppArmor needs it)
  if [ -d /sys/kernel/security ] && ! mountpoint -q /sys/kernel/security; then
    mount -t securityfs none /sys/kernel/security 2>/dev/null || true
  fi
fi
exec "$@"
