#!/usr/bin/env bash
# Installs Debian packages from the host's own suite for the CI scripts:
#
#   apt-install.sh [--no-install-recommends] PACKAGE...
#
# apt-get update, then apt-get install -y, each waiting up to 10 minutes for the dpkg lock
# (another apt run on the machine, e.g. a second setup script, is waited for, not failed on).
# Prints the versions installed, so that a CI log says what ran (Debian serves one version
# per stable suite; .ci/setup/versions.sh says why they are not pinned further).
set -euo pipefail
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
opts=(-o DPkg::Lock::Timeout=600)
install=(-y)
if [[ ${1:-} == --no-install-recommends ]]; then install+=("$1"); shift; fi
(($# > 0)) || { echo "usage: apt-install.sh [--no-install-recommends] PACKAGE..." >&2; exit 2; }
export DEBIAN_FRONTEND=noninteractive
# apt-get with the lock timeout, tried again while another apt run holds a lock it does not
# wait for (the lists lock of `update`); any other failure is final.
apt() {
  local out tries=0
  until out=$(apt-get "${opts[@]}" "$@" 2>&1); do
    if [[ $out == *"Could not get lock"* ]] && ((++tries < 60)); then sleep 10; continue; fi
    printf '%s\n' "$out" >&2
    return 1
  done
}
apt update -qq
apt install "${install[@]}" -qq "$@"
for p in "$@"; do
  printf 'apt-install.sh: %s %s\n' "$p" "$(dpkg-query -W -f '${Version}' "$p" 2>/dev/null || echo '?')" >&2
done
