#!/usr/bin/env bash
# Compose v2 (`docker compose`) for the tests: Debian trixie's docker-compose package (2.26), a
# static Go binary that runs on bookworm, installed as a Docker CLI plugin in
# /usr/local/lib/docker/cli-plugins/docker-compose (where the docker CLI looks for plugins).
# The host's own apt is not touched: `apt-get download` runs with a private sources list and
# lists directory naming the archive this machine's apt already uses (debian-mirror.sh), then
# `dpkg -x` unpacks the one binary. Does nothing when the plugin already answers at the pinned
# minor version (versions.sh). Prints the version it installed or found on stderr.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.sh
. "$here/versions.sh"
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
PLUGIN_DIR=${PLANCTON_CLI_PLUGINS:-/usr/local/lib/docker/cli-plugins}
PLUGIN=$PLUGIN_DIR/docker-compose
SUITE=$PLANCTON_NEW_SUITE

say() { printf 'compose-v2.sh: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
version_of() { "$1" version --short 2>/dev/null; }

if [[ -x $PLUGIN && $(version_of "$PLUGIN") == "$PLANCTON_COMPOSE_V2_MINOR".* ]]; then
  say "Compose $(version_of "$PLUGIN") already installed at $PLUGIN"
  exit 0
fi
mirror=$(bash "$here/debian-mirror.sh") || die "this machine's apt names no Debian archive"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/lists/partial "$work"/cache/archives/partial "$work/etc/preferences.d"
printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$mirror" "$SUITE" >"$work/sources.list"
apt_private=(-o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=-
  -o "Dir::Etc::preferencesparts=$work/etc/preferences.d" -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache" -o "Dir::State::status=/dev/null" -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root)
say "apt-get update of $SUITE (private lists in $work)"
apt-get "${apt_private[@]}" update -qq >&2 || die "apt-get update of $SUITE failed"
(cd "$work" && apt-get "${apt_private[@]}" download docker-compose >&2) || die "apt-get download docker-compose failed"
deb=$(ls "$work"/docker-compose_*.deb)
say "unpacking $(basename "$deb")"
dpkg -x "$deb" "$work/root"
mkdir -p "$PLUGIN_DIR"
install -m 755 "$work/root/usr/libexec/docker/cli-plugins/docker-compose" "$PLUGIN.tmp"
mv -f "$PLUGIN.tmp" "$PLUGIN"
got=$(version_of "$PLUGIN") || die "$PLUGIN does not run"
[[ $got == "$PLANCTON_COMPOSE_V2_MINOR".* ]] || die "$SUITE ships Compose $got, not $PLANCTON_COMPOSE_V2_MINOR.x (update versions.sh)"
say "installed Compose $got at $PLUGIN; docker compose version: $(docker compose version --short)"
