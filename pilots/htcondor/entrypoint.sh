#!/bin/bash
# A Plancton pilot: an HTCondor execute node (condor_master and condor_startd) run under the
# pilot contract (docs/pilots.md). PID 1 of the image: it writes the node's configuration
# from the environment, installs the mounted secrets, runs condor_master in the foreground,
# and maps the outcome to the contract's exit codes:
#
#   exit 0    the startd ran at least one job ("done": Plancton starts a fresh pilot)
#   exit 75   it never ran one: unclaimed for HTCONDOR_IDLE_TIMEOUT seconds, or stopped
#             before any claim ("no work here": Plancton backs off)
#   exit 78   misconfigured (no central manager, a malformed number): "failed"
#   other     condor_master failed: its exit code, or 128 + the signal that ended it
#
# On SIGTERM (or SIGINT) it shuts the startd down peacefully (no new job; the running ones go
# on) and waits; when PLANCTON_STOP_TIMEOUT - HTCONDOR_VACATE_TIME - HTCONDOR_STOP_MARGIN
# seconds are spent it turns the shutdown graceful (the jobs get their soft kill signal and
# HTCONDOR_VACATE_TIME seconds to leave); HTCONDOR_STOP_MARGIN / 2 seconds before Plancton's
# SIGKILL it shuts down fast.
#
# Environment (README.md has the full table):
#   CONDOR_HOST (or CONDOR_SERVICE_HOST)   the central manager, host[:port]
#   HTCONDOR_TRUST_DOMAIN                  the pool's trust domain, the issuer of its tokens
#                                          (default: CONDOR_HOST without the port)
#   USE_POOL_PASSWORD (no)                 yes: also PASSWORD auth (password files mounted at
#                                          /etc/condor/passwords-orig.d); tokens are mounted at
#                                          /etc/condor/tokens-orig.d (never in the environment)
#   HTCONDOR_DEADLINE_MARGIN (60)          no new claim after PLANCTON_DEADLINE minus this
#   HTCONDOR_IDLE_TIMEOUT (1200)           seconds unclaimed before the node leaves
#   HTCONDOR_VACATE_TIME (30)              seconds a job gets after its soft kill signal
#   HTCONDOR_STOP_MARGIN (5)               seconds kept back from PLANCTON_STOP_TIMEOUT
#   HTCONDOR_NUM_CPUS, HTCONDOR_MEMORY (MB)   override what the contract grants
#   CVMFS_HTTP_PROXY, PARROT_CVMFS_REPO, PARROT_OPTIONS   for the Parrot job wrapper
# and the contract's PLANCTON_CPUS, PLANCTON_MEMORY_BYTES, PLANCTON_DEADLINE,
# PLANCTON_STOP_TIMEOUT, PLANCTON_PILOT_ID, PLANCTON_HOST.
set -u

readonly EX_DONE=0 EX_NO_WORK=75 EX_CONFIG=78
readonly CONDOR_ETC=${HTCONDOR_ETC_DIR:-/etc/condor}
readonly CONFIG_DIR=${HTCONDOR_CONFIG_DIR:-$CONDOR_ETC/config.d}
readonly PARROT_ENV=${PLANCTON_PARROT_ENV:-/etc/plancton/parrot.env}

say() { printf 'htcondor-pilot: %s\n' "$*" >&2; }
config_error() {
  say "configuration error: $*"
  exit "$EX_CONFIG"
}
check_uint() {
  [[ $2 =~ ^[0-9]+$ ]] || config_error "$1 must be a non-negative integer, not '$2'"
}
# NUM_CPUS: PLANCTON_CPUS rounded up, at least 1.
cores_of() {
  awk -v c="$1" 'BEGIN {
    if (c !~ /^([0-9]+\.?[0-9]*|\.[0-9]+)$/) exit 1
    n = int(c); if (n < c) n++; if (n < 1) n = 1; print n
  }'
}
# A value for a condor config file: one line, no macro expansion.
condor_string() {
  local v=${1//\\/\\\\}
  v=${v//\"/\\\"}
  v=${v//\$/\$\$}
  printf '"%s"' "${v//$'\n'/ }"
}

# --- configuration from the environment --------------------------------------------------

central=${CONDOR_HOST:-${CONDOR_SERVICE_HOST:-}}
[[ -n $central ]] || config_error "set CONDOR_HOST to the central manager (host[:port])"
[[ $central =~ ^[A-Za-z0-9._:-]+$ ]] || config_error "CONDOR_HOST '$central' is not host[:port]"
trust_domain=${HTCONDOR_TRUST_DOMAIN:-${central%:*}}
[[ $trust_domain =~ ^[A-Za-z0-9._-]+$ ]] || config_error "HTCONDOR_TRUST_DOMAIN '$trust_domain' is not a domain name"
pool_password=${USE_POOL_PASSWORD:-no}
[[ $pool_password =~ ^(yes|no|true|false)$ ]] || config_error "USE_POOL_PASSWORD must be yes or no"
case $pool_password in yes | true) pool_password=yes ;; *) pool_password=no ;; esac

idle=${HTCONDOR_IDLE_TIMEOUT:-1200}
check_uint HTCONDOR_IDLE_TIMEOUT "$idle"
# The startd checks STARTD_NOCLAIM_SHUTDOWN when it updates the collector: often enough that an
# idle pilot leaves within a quarter of its idle time late, never more often than every 5 s.
update=$((idle / 4))
if ((update < 5)); then update=5; elif ((update > 300)); then update=300; fi
vacate=${HTCONDOR_VACATE_TIME:-30}
check_uint HTCONDOR_VACATE_TIME "$vacate"
margin=${HTCONDOR_STOP_MARGIN:-5}
check_uint HTCONDOR_STOP_MARGIN "$margin"
claim_margin=${HTCONDOR_DEADLINE_MARGIN:-60}
check_uint HTCONDOR_DEADLINE_MARGIN "$claim_margin"
stop_timeout=${PLANCTON_STOP_TIMEOUT:-10}
check_uint PLANCTON_STOP_TIMEOUT "$stop_timeout"
# seconds running jobs get, after the stop signal, before their soft kill
retire=$((stop_timeout - vacate - margin))
if ((retire < 0)); then retire=0; fi

if [[ -n ${HTCONDOR_NUM_CPUS:-} ]]; then
  check_uint HTCONDOR_NUM_CPUS "$HTCONDOR_NUM_CPUS"
  cpus=$HTCONDOR_NUM_CPUS
else
  cpus=$(cores_of "${PLANCTON_CPUS:-1}") || config_error "PLANCTON_CPUS must be a number, not '${PLANCTON_CPUS:-}'"
fi
memory=${HTCONDOR_MEMORY:-}
if [[ -z $memory ]]; then
  check_uint PLANCTON_MEMORY_BYTES "${PLANCTON_MEMORY_BYTES:-0}"
  if ((${PLANCTON_MEMORY_BYTES:-0} >= 1048576)); then memory=$((PLANCTON_MEMORY_BYTES / 1048576)); fi
fi
if [[ -n $memory ]]; then check_uint HTCONDOR_MEMORY "$memory"; fi

now=$(date +%s)
deadline=${PLANCTON_DEADLINE:-0}
check_uint PLANCTON_DEADLINE "$deadline"
if ((deadline == 0)); then
  job_end=$((now + 10 * 365 * 86400))
  claim_end=$job_end
else
  # no new claim this close to the deadline: Plancton stops the pilot there
  claim_end=$((deadline - claim_margin))
  # the last moment a job can finish: the deadline, plus the grace after the stop signal there
  job_end=$((deadline + retire + vacate))
  if ((job_end <= now)); then
    say "no time left before the deadline ($deadline): not starting"
    exit "$EX_NO_WORK"
  fi
fi

{
  echo "# Written by htcondor-pilot at $(date -u +%FT%TZ) from the pilot's environment."
  echo "CONDOR_HOST = $central"
  echo "TRUST_DOMAIN = $trust_domain"
  echo "USE_POOL_PASSWORD = $pool_password"
  echo "NUM_CPUS = $cpus"
  if [[ -n $memory ]]; then echo "MEMORY = $memory"; fi
  echo "PLANCTON_IDLE_TIME = $idle"
  echo "PLANCTON_UPDATE_INTERVAL = $update"
  echo "PLANCTON_VACATE_TIME = $vacate"
  echo "PLANCTON_RETIRE_TIME = $retire"
  echo "PLANCTON_DEADLINE = $deadline"
  echo "PLANCTON_JOB_END = $job_end"
  echo "PLANCTON_CLAIM_END = $claim_end"
  echo "PLANCTON_PILOT_ID = $(condor_string "${PLANCTON_PILOT_ID:-}")"
  echo "PLANCTON_HOST = $(condor_string "${PLANCTON_HOST:-}")"
} >"$CONFIG_DIR/40-plancton-env.conf" || config_error "cannot write $CONFIG_DIR/40-plancton-env.conf"

# The job wrapper runs in the job's environment, not the pilot's: it reads its settings here.
mkdir -p "${PARROT_ENV%/*}"
{
  for name in CVMFS_HTTP_PROXY PARROT_CVMFS_REPO PARROT_OPTIONS PARROT_CVMFS_ALIEN_CACHE; do
    if [[ -n ${!name:-} ]]; then printf '%s=%q\n' "$name" "${!name}"; fi
  done
} >"$PARROT_ENV"

# The secrets, from read-only mounts: the daemons want them owned by root, 0600, in 0700
# directories, which a bind mount from the host need not be. Never from the environment.
install_secrets() {
  local from=$1 to=$2 n=0 f
  install -d -m 0700 "$to" || config_error "cannot make $to"
  for f in "$from"/*; do
    [[ -f $f ]] || continue
    install -m 0600 "$f" "$to/${f##*/}" || config_error "cannot install $f"
    n=$((n + 1))
  done
  echo "$n"
}
tokens=$(install_secrets "$CONDOR_ETC/tokens-orig.d" "$CONDOR_ETC/tokens.d") || exit "$EX_CONFIG"
passwords=0
if [[ $pool_password == yes ]]; then
  passwords=$(install_secrets "$CONDOR_ETC/passwords-orig.d" "$CONDOR_ETC/passwords.d") || exit "$EX_CONFIG"
fi
if ((tokens == 0 && passwords == 0)); then
  config_error "no IDTOKEN mounted at $CONDOR_ETC/tokens-orig.d (and no pool password at $CONDOR_ETC/passwords-orig.d with USE_POOL_PASSWORD=yes): the pool would refuse this node"
fi

say "pilot ${PLANCTON_PILOT_ID:-?} on ${PLANCTON_HOST:-?}: central manager $central (trust domain $trust_domain, $tokens token(s)), $cpus CPU(s), memory ${memory:-detected} MB;" \
  "unclaimed ${idle}s before leaving; on stop: ${retire}s for running jobs, ${vacate}s to vacate"

# --- run it ------------------------------------------------------------------------------

stopping=0
trap 'stopping=1' TERM INT
condor_master -f &
master=$!

alive() { kill -0 "$master" 2>/dev/null; }
# Waits until the master is gone or `SECONDS` reaches $1.
wait_until() {
  while alive && ((SECONDS < $1)); do sleep 1; done
}

drain() {
  local t0=$SECONDS
  say "stop signal: no new jobs; running jobs get ${retire}s, then ${vacate}s to vacate"
  condor_off -peaceful -daemon master >&2 || true
  wait_until $((t0 + retire))
  if alive; then
    say "grace spent: vacating the jobs still running"
    condor_off -force-graceful -daemon master >&2 || kill -TERM "$master" 2>/dev/null
    wait_until $((t0 + retire + vacate + margin / 2))
  fi
  if alive; then
    say "vacate time spent: fast shutdown"
    condor_off -fast -daemon master >&2 || kill -QUIT "$master" 2>/dev/null
  fi
}

drained=0
while :; do
  wait "$master"
  status=$?
  if ((stopping && !drained)) && alive; then
    drained=1
    drain
    continue
  fi
  if alive; then continue; fi
  break
done

# Jobs that ran here, from the startd's log (one "Idle -> Busy" per job started in a slot).
log_dir=$(condor_config_val LOG 2>/dev/null || echo /var/log/condor)
jobs=$(cat "$log_dir"/StartLog* 2>/dev/null | grep -c 'Changing activity: Idle -> Busy')

if ((!stopping && status != 0)); then
  say "condor_master failed with status $status after $jobs job(s)"
  exit "$status"
fi
if ((jobs > 0)); then
  say "done: ran $jobs job(s)"
  exit "$EX_DONE"
fi
if ((stopping)); then say "no work: stopped before any job"; else say "no work: unclaimed for ${idle}s"; fi
exit "$EX_NO_WORK"
