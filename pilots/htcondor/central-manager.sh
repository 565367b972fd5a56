#!/bin/bash
# A small HTCondor pool's central manager for Plancton's pilots (the demo in
# compose/htcondor-demo.yml, and the tests): collector (with CCB), negotiator and schedd in one
# container of the pilot image. At every start it issues an IDTOKEN for the pilots and writes it
# to HTCONDOR_PILOT_TOKEN_DIR/pilot, which Plancton bind-mounts read-only into every pilot:
#
#   identity    pilot@TRUST_DOMAIN, only allowed to advertise a startd and a master, and read
#   TRUST_DOMAIN  CONDOR_HOST (default: this container's host name, e.g. cm in Compose)
#
# Environment:
#   CONDOR_HOST (host name)                 the name the pilots reach this container by
#   HTCONDOR_PILOT_TOKEN_DIR (/etc/condor/pilot-tokens)   where the pilots' token goes
#   HTCONDOR_NEGOTIATOR_INTERVAL (10)       seconds between matchmaking cycles (small pool)
#
# Jobs are submitted as the image's unprivileged `submitter` (HTCondor runs no job as root):
#   docker exec -u submitter CM condor_submit hello.sub
# SIGTERM shuts the daemons down gracefully; the container ends with the master.
set -u

say() { printf 'htcondor-central-manager: %s\n' "$*" >&2; }
central=${CONDOR_HOST:-$(hostname)}
[[ $central =~ ^[A-Za-z0-9._-]+$ ]] || { say "CONDOR_HOST '$central' is not a host name"; exit 78; }
interval=${HTCONDOR_NEGOTIATOR_INTERVAL:-10}
[[ $interval =~ ^[0-9]+$ ]] || { say "HTCONDOR_NEGOTIATOR_INTERVAL must be a number of seconds"; exit 78; }
token_dir=${HTCONDOR_PILOT_TOKEN_DIR:-/etc/condor/pilot-tokens}

# A token left by an earlier start is signed with a key this container may not have.
rm -f "$token_dir/pilot"
# The execute-node configuration (config.d/50-plancton.conf) is for pilots only.
rm -f /etc/condor/config.d/50-plancton.conf /etc/condor/config.d/60-parrot.conf
cat >/etc/condor/config.d/40-central-manager.conf <<CONF
# Written by htcondor-central-manager at $(date -u +%FT%TZ).
CONDOR_HOST = $central
TRUST_DOMAIN = $central
use ROLE: CentralManager
use ROLE: Submit
# The pool's collector is the CCB server of the pilots, which accept no connection.
USE_SHARED_PORT = True
SEC_DEFAULT_AUTHENTICATION = REQUIRED
SEC_DEFAULT_AUTHENTICATION_METHODS = FS, IDTOKENS
SEC_DEFAULT_ENCRYPTION = REQUIRED
SEC_DEFAULT_INTEGRITY = REQUIRED
# What a pilot's token may do: advertise its startd and master, read the pool.
ALLOW_ADVERTISE_STARTD = \$(ALLOW_ADVERTISE_STARTD) pilot@$central condor@$central
ALLOW_ADVERTISE_MASTER = \$(ALLOW_ADVERTISE_MASTER) pilot@$central condor@$central
ALLOW_DAEMON = \$(ALLOW_DAEMON) pilot@$central condor@$central
# A small pool: match every few seconds, not every minute.
NEGOTIATOR_INTERVAL = $interval
NEGOTIATOR_CYCLE_DELAY = 5
SCHEDD_INTERVAL = $interval
CONF

stopping=0
trap 'stopping=1; kill -TERM "$master" 2>/dev/null' TERM INT
condor_master -f &
master=$!

# The master makes the pool's signing key at its first start; the token is signed with it.
for _ in $(seq 1 120); do
  [[ -s /etc/condor/passwords.d/POOL ]] && break
  kill -0 "$master" 2>/dev/null || break
  sleep 0.5
done
install -d -m 0755 "$token_dir"
if token=$(condor_token_create -identity "pilot@$central" -authz ADVERTISE_STARTD -authz ADVERTISE_MASTER -authz READ) &&
  [[ -n $token ]]; then
  # written whole, then renamed: a pilot starting now never reads half a token
  (umask 077 && printf '%s\n' "$token" >"$token_dir/.pilot.new") && mv -f "$token_dir/.pilot.new" "$token_dir/pilot"
  say "central manager $central: the pilots' token is $token_dir/pilot"
else
  say "could not issue the pilots' token"
fi

while :; do
  wait "$master"
  status=$?
  if kill -0 "$master" 2>/dev/null; then continue; fi
  break
done
if ((stopping)); then exit 0; fi
exit "$status"
