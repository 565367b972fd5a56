#!/usr/bin/env bash
# What the private-registry tests need on the host, installed when missing (idempotent):
#
#   - Debian's docker-registry (the CNCF distribution registry 2.8), which the tests start
#     themselves on a free loopback port with their own config, htpasswd file and storage
#     directory (test/integration/registry-auth.test.ts), and stop;
#   - htpasswd (apache2-utils), to write the bcrypt password file the registry demands;
#   - git (git daemon), for the configuration bootstrap tests (test/integration/config-bootstrap.test.ts).
#
# Only installs: no service is started here. Needs root (apt).
set -euo pipefail

PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
say() { printf 'registry-setup.sh: %s\n' "$*" >&2; }

packages=()
command -v docker-registry >/dev/null 2>&1 || packages+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || packages+=(apache2-utils)
command -v git >/dev/null 2>&1 || packages+=(git)
if ((${#packages[@]} > 0)); then
  say "installing ${packages[*]} with apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=900 update -qq
  # policy-rc.d usually forbids starting the packaged registry service; the tests do not use it either way
  apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
for cmd in docker-registry htpasswd git; do
  command -v "$cmd" >/dev/null 2>&1 || { say "ERROR: $cmd still missing"; exit 1; }
done
say "ready: $(docker-registry --version 2>&1 | head -n 1); $(git --version)"
