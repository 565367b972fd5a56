#!/usr/bin/env bash
# The monitoring servers the integration tests run: Debian's influxdb (1.6) and prometheus (2.42).
#
#   monitoring.sh      install influxdb and prometheus if `influxd` or `prometheus` is missing
#                      (.ci/setup/apt-install.sh); does nothing when both are there.
#
# Only installs: the tests start their own servers on free loopback ports with their own
# data directories and configurations, and stop them. No service is started here (where the
# packages' scripts would start one, the image's policy-rc.d usually forbids it; a packaged
# server on its default port is not used by the tests either way).
set -euo pipefail

# both binaries live in /usr/bin, but keep sbin on PATH for apt's helpers
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

say() { printf 'monitoring.sh: %s\n' "$*" >&2; }

missing=()
command -v influxd >/dev/null 2>&1 || missing+=(influxdb)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)

if [ "${#missing[@]}" -eq 0 ]; then
  say "influxd and prometheus already installed"
  exit 0
fi

say "installing ${missing[*]}"
bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" --no-install-recommends "${missing[@]}"

command -v influxd >/dev/null 2>&1 || { say "ERROR: influxd still missing"; exit 1; }
command -v prometheus >/dev/null 2>&1 || { say "ERROR: prometheus still missing"; exit 1; }
say "installed: $(influxd version 2>/dev/null | head -1); $(prometheus --version 2>&1 | head -1)"
