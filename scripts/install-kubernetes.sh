#!/usr/bin/env bash
# Builds the Kubernetes test bed from published Go modules into .understudy/kubernetes/bin: etcd, kube-apiserver,
# kube-scheduler, kube-controller-manager (the real control plane), kwok (which plays the nodes and the pods'
# lifecycles) and kubectl (to look at it). No release binaries are downloaded: the module proxy is the only source.
# The first build costs about 25 CPU-minutes and 3 GB of memory at the link; an unchanged build does nothing.
# Usage: scripts/install-kubernetes.sh [--quiet]
set -euo pipefail

QUIET=0
[[ "${1:-}" == "--quiet" ]] && QUIET=1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${UNDERSTUDY_STATE_DIR:-$ROOT/.understudy}"
SOURCES="$ROOT/scripts/kubernetes"
BIN="$STATE/kubernetes/bin"
# Pinned: the control plane's version is the wrapper module's require, etcd's the one that release pins.
KUBERNETES_VERSION="v1.37.2"
KWOK_VERSION="v0.8.0"

say() { [[ $QUIET == 1 ]] || echo "setup: $*"; }
act() { echo "setup: $*"; }

# One stamp over everything that decides the binaries: the wrapper modules, their sums and the pinned versions.
stamp="$(echo "$KUBERNETES_VERSION $KWOK_VERSION" | cat - "$SOURCES"/*/go.mod "$SOURCES"/*/go.sum "$SOURCES"/*/*.go |
  sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$BIN/stamp" 2>/dev/null)" == "$stamp" && -s "$STATE/kubernetes/kwok-stages.yaml" ]]; then
  say "the Kubernetes test bed is built ($KUBERNETES_VERSION)"
  exit 0
fi

mkdir -p "$BIN"
rm -f "$BIN/stamp"
export CGO_ENABLED=0
minor="${KUBERNETES_VERSION#v1.}"
minor="${minor%%.*}"
version_flags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
version_flags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
version_flags+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION"

build() { # <module folder> <package> <binary>
  local started=$SECONDS
  act "building $3 from its Go module (the first build takes minutes)"
  (cd "$SOURCES/$1" && go build -trimpath -ldflags "$version_flags" -o "$BIN/$3.partial" "$2")
  mv "$BIN/$3.partial" "$BIN/$3"
  say "built $3 in $((SECONDS - started)) s"
}

build etcd . etcd
for command in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build control-plane "k8s.io/kubernetes/cmd/$command" "$command"
done
started=$SECONDS
act "building kwok $KWOK_VERSION from its Go module"
GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
say "built kwok in $((SECONDS - started)) s"
# kwok's own stages, as its module ships them: nodes become Ready and renew their leases, pods start and stop at once.
stages="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
for stage in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease pod/fast/pod-ready \
  pod/fast/pod-complete pod/fast/pod-delete; do
  printf -- '---\n'
  sed '/^---$/d' "$stages/$stage.yaml"
done >"$STATE/kubernetes/kwok-stages.yaml"

echo "$stamp" >"$BIN/stamp"
say "the Kubernetes test bed is built under $BIN"
