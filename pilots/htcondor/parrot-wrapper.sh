#!/bin/bash
# USER_JOB_WRAPPER of the Plancton HTCondor pilot: runs the job under Parrot (cctools
# parrot_run), which serves /cvmfs from CernVM-FS over HTTP without FUSE, root or privileges.
# The starter runs it as `parrot-wrapper <job executable> <arguments...>`, in the job's
# sandbox and environment; the pilot's settings come from /etc/plancton/parrot.env, written
# by the entrypoint from the pilot's environment:
#
#   CVMFS_HTTP_PROXY           the site's squid(s) for CVMFS, e.g. "http://squid:3128;DIRECT"
#                              (default DIRECT: fine for a test, unkind to the stratum 1s)
#   PARROT_CVMFS_REPO          repositories and their keys, in Parrot's syntax (default:
#                              Parrot's built-in *.cern.ch configuration)
#   PARROT_CVMFS_ALIEN_CACHE   a cache shared by the jobs (e.g. a bind-mounted host
#                              directory); default: per job, in its scratch directory
#   PARROT_OPTIONS             more parrot_run options (split on white space)
#
# /cvmfs mounted natively (bind-mounted from the host, or FUSE in the pilot): the job runs
# directly. A failure to start Parrot is written where HTCondor asks for it, which puts the
# job on hold with that reason instead of failing it silently.
set -u

settings=${PLANCTON_PARROT_ENV:-/etc/plancton/parrot.env}
if [[ -r $settings ]]; then
  # shellcheck source=/dev/null
  . "$settings"
fi

fail() {
  if [[ -n ${_CONDOR_WRAPPER_ERROR_FILE:-} ]]; then printf 'plancton parrot-wrapper: %s\n' "$*" >"$_CONDOR_WRAPPER_ERROR_FILE"; fi
  printf 'plancton parrot-wrapper: %s\n' "$*" >&2
  exit 1
}

if (($# == 0)); then fail "no job to run"; fi
if [[ -d /cvmfs/cvmfs-config.cern.ch || ${PLANCTON_PARROT:-on} == off ]]; then exec "$@"; fi

parrot=$(command -v parrot_run || echo /opt/cctools/bin/parrot_run)
[[ -x $parrot ]] || fail "parrot_run not found: the job needs /cvmfs and this pilot has no way to give it"

scratch=${_CONDOR_SCRATCH_DIR:-${TMPDIR:-/tmp}}
tempdir=$scratch/.parrot
mkdir -p "$tempdir" || fail "cannot make $tempdir"

export HTTP_PROXY=${CVMFS_HTTP_PROXY:-${HTTP_PROXY:-DIRECT}}
export PARROT_ALLOW_SWITCHING_CVMFS_REPOSITORIES=yes
if [[ -n ${PARROT_CVMFS_REPO:-} ]]; then export PARROT_CVMFS_REPO; fi
if [[ -n ${PARROT_CVMFS_ALIEN_CACHE:-} ]]; then export PARROT_CVMFS_ALIEN_CACHE; fi

options=()
if [[ -n ${PARROT_OPTIONS:-} ]]; then read -r -a options <<<"$PARROT_OPTIONS"; fi
exec "$parrot" --tempdir "$tempdir" "${options[@]}" -- "$@"
