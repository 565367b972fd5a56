#!/usr/bin/env bash
# The exact versions of everything the CI scripts download outside package-lock.json.
# Sourced by the scripts in test/support; one place to bump them.
# shellcheck disable=SC2034 # read by the scripts that source this file
#
# npm registry packages are pinned to an exact version (the registry keeps every version).
# Debian packages come from a named stable suite (bookworm for the host, trixie for the
# stand-ins that need newer software): the archive serves one version per suite, so an exact
# apt pin would break on the next point release; the scripts print what they installed.

# Node for the tests and the project image's stand-in base (ships bin/node only; npm is the
# machine's own, found by its path).
PLANCTON_NODE_VERSION=24.22.3
# The Debian suites the stand-in base images are bootstrapped from.
PLANCTON_HOST_SUITE=bookworm
PLANCTON_NEW_SUITE=trixie
