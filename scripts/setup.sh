#!/usr/bin/env bash
# Installs everything Understudy needs on a fresh machine, into the project-local .understudy/ folder where it can:
# the Temporal CLI dev server (built from its Go module), Temporal's time-skipping test server (Maven Central),
# InfluxDB 1.x and docker-compose (Debian packages), Telegraf (from its Go module), the Python venv of the model
# trainer, and the Kubernetes test bed (etcd, the control plane and kwok, built from their Go modules by
# scripts/install-kubernetes.sh).
# Idempotent: each step checks a stamp or the tool itself and does nothing when it is already in place.
# Usage: scripts/setup.sh [--quiet] [--without-kubernetes]
#   --without-kubernetes: leave out the Kubernetes test bed (the simulator demo does not use it; the tests do).
set -euo pipefail

QUIET=0
KUBERNETES=1
for arg in "$@"; do
  case "$arg" in
    --quiet) QUIET=1 ;;
    --without-kubernetes) KUBERNETES=0 ;;
    *) echo "setup: error: unknown option $arg (usage: scripts/setup.sh [--quiet] [--without-kubernetes])" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${UNDERSTUDY_STATE_DIR:-$ROOT/.understudy}"
# Pinned versions. The Temporal CLI v1.5.1 is the newest release whose Go module builds with `go install`:
# later releases replace their `cliext` module with a local folder the module proxy does not serve. It is built in
# scripts/temporal-cli, whose go.mod pins it and raises its SQLite driver; the stamp names both.
TEMPORAL_CLI_VERSION="v1.5.1+modernc.org/sqlite@v1.44.3"
TEST_SERVER_VERSION="1.38.0"

say() { [[ $QUIET == 1 ]] || echo "setup: $*"; }
act() { echo "setup: $*"; }
fail() { echo "setup: error: $*" >&2; exit 1; }

mkdir -p "$STATE/bin" "$STATE/logs"

need() { command -v "$1" >/dev/null 2>&1 || fail "$1 is required ($2) but is not on PATH"; }
need node "Node.js 20.19 or newer"
need go "Go 1.24 or newer, to build the Temporal CLI"
need java "Java 17 or newer, for Temporal's time-skipping test server"
need mvn "Maven, to fetch Temporal's time-skipping test server"
need python3 "Python 3.11, for the model trainer"
need openssl "OpenSSL, for the Kubernetes test bed's certificates"

# --- Node dependencies ---------------------------------------------------------------------------------------
if [[ ! -d "$ROOT/node_modules/@temporalio/worker" ]]; then
  act "installing Node dependencies (npm ci)"
  (cd "$ROOT" && npm ci --no-audit --no-fund)
fi

# --- Debian packages: InfluxDB 1.x, docker-compose (validates docker-compose.yml without an engine), Chromium
# (the browser test of the Web UI) -----------------------------------------------------------------------------
missing=()
command -v influxd >/dev/null 2>&1 || missing+=(influxdb)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if ((${#missing[@]} > 0)); then
  [[ $(id -u) == 0 ]] || fail "Debian packages ${missing[*]} are missing; install them (sudo apt-get install ${missing[*]}) and run again"
  act "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The package starts a system-wide influxd on the default ports; Understudy runs its own, so stop that one.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet influxdb 2>/dev/null; then
  systemctl stop influxdb || true
fi

# --- Temporal CLI (dev server + Web UI) --------------------------------------------------------------------------
TEMPORAL_BIN="$STATE/bin/temporal"
if [[ ! -x "$TEMPORAL_BIN" || "$(cat "$STATE/bin/temporal.version" 2>/dev/null)" != "$TEMPORAL_CLI_VERSION" ]]; then
  act "building the Temporal CLI $TEMPORAL_CLI_VERSION from its Go module (a few minutes on a fresh machine)"
  (cd "$ROOT/scripts/temporal-cli" && GOBIN="$STATE/bin" go install github.com/temporalio/cli/cmd/temporal)
  echo "$TEMPORAL_CLI_VERSION" >"$STATE/bin/temporal.version"
fi

# --- Kubernetes test bed -------------------------------------------------------------------------------------------
if [[ $KUBERNETES == 1 ]]; then
  if [[ $QUIET == 1 ]]; then bash "$ROOT/scripts/install-kubernetes.sh" --quiet; else bash "$ROOT/scripts/install-kubernetes.sh"; fi
fi

# --- Telegraf (the real metrics agent), built from its Go module with only the plugins Understudy reads -------------
TELEGRAF_VERSION="v1.37.2"
TELEGRAF_PLUGINS="custom,inputs.cpu,inputs.mem,inputs.diskio,inputs.net,outputs.influxdb,outputs.influxdb_v2"
TELEGRAF_STAMP="$TELEGRAF_VERSION $TELEGRAF_PLUGINS"
if [[ ! -x "$STATE/bin/telegraf" || "$(cat "$STATE/bin/telegraf.version" 2>/dev/null)" != "$TELEGRAF_STAMP" ]]; then
  act "building Telegraf $TELEGRAF_VERSION from its Go module (cpu, mem, diskio, net; InfluxDB 1.x and 2.x outputs)"
  GOBIN="$STATE/bin" CGO_ENABLED=0 GOFLAGS=-mod=mod go install -trimpath -ldflags "-s -w" -tags "$TELEGRAF_PLUGINS" \
    "github.com/influxdata/telegraf/cmd/telegraf@$TELEGRAF_VERSION"
  echo "$TELEGRAF_STAMP" >"$STATE/bin/telegraf.version"
fi

# --- InfluxDB 1.8 (speaks the v2 API): the server the InfluxDB 2.x metrics adapter is tested against ----------------
bash "$ROOT/scripts/install-influxd-v2api.sh"

# --- Temporal time-skipping test server (Java) ---------------------------------------------------------------------
TS_DIR="$STATE/test-server"
if [[ "$(cat "$TS_DIR/version" 2>/dev/null)" != "$TEST_SERVER_VERSION" ]]; then
  act "fetching Temporal's time-skipping test server $TEST_SERVER_VERSION from Maven Central"
  rm -rf "$TS_DIR"
  mkdir -p "$TS_DIR"
  mvn -q -B -f "$ROOT/scripts/test-server/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$TS_DIR/lib" -DincludeScope=runtime
  # Run as `<path> <port>` (test/helpers/timeSkipping.ts), as the SDK runs a test server: time locked until a client unlocks it.
  cat >"$TS_DIR/temporal-test-server" <<'LAUNCHER'
#!/usr/bin/env bash
exec java -Xms64m -Xmx512m -cp "$(dirname "$0")/lib/*" io.temporal.testserver.TestServer "$@"
LAUNCHER
  chmod +x "$TS_DIR/temporal-test-server"
  echo "$TEST_SERVER_VERSION" >"$TS_DIR/version"
fi

# --- Python venv of the model trainer ------------------------------------------------------------------------------
VENV="$STATE/venv"
REQS="$ROOT/models/requirements.txt"
want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [[ "$(cat "$VENV/requirements.sha256" 2>/dev/null)" != "$want" ]]; then
  act "creating the trainer's Python venv from models/requirements.txt"
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQS"
  echo "$want" >"$VENV/requirements.sha256"
fi

say "ready: everything is installed under $STATE"
