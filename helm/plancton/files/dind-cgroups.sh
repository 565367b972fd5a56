#!/bin/sh
# dind-cgroups.sh COMMAND [ARG...]
#
# Runs the chart's Docker-in-Docker engine (COMMAND: the image's `dockerd-entrypoint.sh dockerd
# ...`) so that it sees the node's cgroup hierarchy from its root, not only its own container's
# subtree. The engine then applies the pilots' `--cgroup-parent` (Plancton's cgroup_parent,
# /plancton) at the node's top level, beside /kubepods, where Plancton (through the chart's
# hostCgroup mount) makes that group idle: the pilots yield to every other process of the node.
# dockerd, containerd and the shims stay in this container's own cgroup, at the pod's weight.
#
# How: a container runtime bind-mounts only the container's own subtree at /sys/fs/cgroup. A
# cgroup filesystem mounted afresh shows the hierarchy from the root of the mounting process's
# cgroup namespace. So, in the node's cgroup namespace (entered through the node's /proc at
# $PLANCTON_HOST_PROC, default /host/proc, when this container has a namespace of its own, as on
# cgroup v2), each v1 hierarchy, or the v2 one, is mounted again over /sys/fs/cgroup.
#
# Anything unexpected stops the container with a message rather than start an engine that would
# put the pilots somewhere else. Needs a privileged container. POSIX sh, busybox or coreutils.
set -eu

say() { echo "dind-cgroups.sh: $*" >&2; }
die() {
  say "ERROR: $*"
  exit 1
}

[ "$#" -gt 0 ] || die "usage: dind-cgroups.sh COMMAND [ARG...] (the engine's command line)"
HOST_PROC=${PLANCTON_HOST_PROC:-/host/proc}

# This process's cgroup as its cgroup namespace shows it: the v2 path, or the v1 `cpu` one.
own_cgroup() {
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    awk -F: '$1 == "0" { print $3; exit }' /proc/self/cgroup
  else
    awk -F: '{ n = split($2, c, ","); for (i = 1; i <= n; i++) if (c[i] == "cpu") { print $3; exit } }' /proc/self/cgroup
  fi
}

# 1. The node's cgroup namespace, when this container has one of its own: the namespace of the
# node's init (pid 1) or, where that cannot be read (an init holding capabilities this container
# lacks), of kthreadd (pid 2), which is always in the node's initial one.
node_ns=
for pid in 1 2; do
  if node_ns=$(readlink "$HOST_PROC/$pid/ns/cgroup" 2>/dev/null); then
    node_ns_file=$HOST_PROC/$pid/ns/cgroup
    break
  fi
done
if [ -z "${PLANCTON_DIND_CGROUPNS:-}" ] && [ -n "$node_ns" ] && [ "$node_ns" != "$(readlink /proc/self/ns/cgroup)" ]; then
  command -v nsenter >/dev/null 2>&1 || die "this container has a cgroup namespace of its own and no nsenter to leave it"
  # busybox's nsenter cannot enter a cgroup namespace; util-linux's can (-C, --cgroup)
  nsenter --help 2>&1 | grep -q -e --cgroup ||
    die "this container has a cgroup namespace of its own, and its nsenter ($(command -v nsenter)) cannot enter a cgroup namespace (busybox's cannot): use an image with util-linux's nsenter, or engine.dind.placement in-pod"
  say "entering the node's cgroup namespace ($node_ns_file)"
  PLANCTON_DIND_CGROUPNS=entered exec nsenter "--cgroup=$node_ns_file" -- sh "$0" "$@"
fi
own=$(own_cgroup)
[ -n "$own" ] || die "cannot read this container's cgroup from /proc/self/cgroup"
if [ "$own" = / ]; then
  [ -z "$node_ns" ] || die "this container's cgroup shows as / even in the node's cgroup namespace: is $HOST_PROC the node's /proc?"
  die "this container has a cgroup namespace of its own (its cgroup shows as /), and $HOST_PROC/1/ns/cgroup and $HOST_PROC/2/ns/cgroup cannot be read: mount the node's /proc at $HOST_PROC"
fi

# 2. The hierarchies again, from the root.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  mount -t cgroup2 cgroup2 /sys/fs/cgroup || die "cannot mount cgroup2 at /sys/fs/cgroup (is the container privileged?)"
  [ -d "/sys/fs/cgroup$own" ] || die "mounted cgroup2 at /sys/fs/cgroup, but this container's cgroup $own is not under it"
  say "cgroup v2: the node's hierarchy from its root at /sys/fs/cgroup (this container: $own)"
else
  mounted=0
  # /proc/self/mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - FSTYPE SOURCE SUPEROPTIONS;
  # each cgroup mount as MOUNTPOINT|CONTROLLERS (empty for a named hierarchy such as name=systemd)
  points=$(awk '
    BEGIN { split("cpu cpuacct cpuset memory devices freezer net_cls net_prio blkio perf_event hugetlb pids rdma misc", k, " "); for (i in k) known[k[i]] = 1 }
    { for (i = 7; i <= NF; i++) if ($i == "-") break
      if ($(i + 1) != "cgroup") next
      n = split($(i + 3), o, ","); c = ""
      for (j = 1; j <= n; j++) if (o[j] in known) c = c (c == "" ? "" : ",") o[j]
      print $5 "|" c }' /proc/self/mountinfo | sort -u)
  for entry in $points; do
    point=${entry%%|*}
    controllers=${entry#*|}
    [ -n "$controllers" ] || continue # a named hierarchy (name=systemd): left as it is
    # unmounted first: runc places a container by the first mount of a hierarchy it finds
    umount "$point" || die "cannot unmount $point (is the container privileged?)"
    mount -t cgroup -o "$controllers" cgroup "$point" || die "cannot mount the cgroup v1 hierarchy $controllers at $point (is the container privileged?)"
    mounted=$((mounted + 1))
  done
  [ "$mounted" -gt 0 ] || die "no cgroup v1 hierarchy found under /sys/fs/cgroup"
  cpu=/sys/fs/cgroup/cpu
  [ -f "$cpu/cpu.shares" ] || cpu=/sys/fs/cgroup/cpu,cpuacct
  [ -d "$cpu$own" ] || die "mounted $mounted cgroup v1 hierarchies, but this container's cgroup $own is not under $cpu"
  say "cgroup v1: $mounted hierarchies of the node from their roots under /sys/fs/cgroup (this container: $own)"
fi

exec "$@"
