#!/usr/bin/env bash
# Builds InfluxDB 1.8.10's influxd from its Go module (proxy.golang.org) into .understudy/influxd-v2api/bin/.
# InfluxDB 1.8 serves the v2 HTTP API (/api/v2/write, Flux on /api/v2/query) beside the 1.x one, so the InfluxDB 2.x
# MetricsStore adapter is tested against a real server that speaks it; Debian's influxdb package (1.6) does not.
# Idempotent: does nothing when the binary is already there. Usage: scripts/install-influxd-v2api.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${UNDERSTUDY_STATE_DIR:-$ROOT/.understudy}"
VERSION="v1.8.10"
BIN="$STATE/influxd-v2api/bin"
if [[ -x "$BIN/influxd" && "$(cat "$BIN/influxd.version" 2>/dev/null)" == "$VERSION" ]]; then exit 0; fi
command -v go >/dev/null 2>&1 || { echo "install-influxd-v2api: go is required to build influxd $VERSION" >&2; exit 1; }
mkdir -p "$BIN"
echo "install-influxd-v2api: building influxd $VERSION from its Go module (a few minutes the first time)"
# Outside the project, so the build never sees the project's own files; GOFLAGS cleared for the same reason.
(cd "$(mktemp -d)" && GOFLAGS=-buildvcs=false GOBIN="$BIN" go install "github.com/influxdata/influxdb/cmd/influxd@$VERSION")
echo "$VERSION" > "$BIN/influxd.version"
