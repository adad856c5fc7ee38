#!/usr/bin/env bash
# Installs the real services the test suite runs against, idempotently:
#   - PostgreSQL server binaries from Debian's packages (no cluster left running);
#   - Apache Kafka broker jars from Maven Central into $SANSHI_CACHE (outside git).
# Fast (well under a second) when everything is already present.
# Python packages are not installed here (scripts/test-all.sh does `pip install -e .[test]`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SANSHI_CACHE:-$HOME/.cache/sanshi}"
KAFKA_VERSION="$(tr -d '[:space:]' < "$ROOT/scripts/kafka/VERSION")"
KAFKA_POM="$ROOT/scripts/kafka/pom.xml"
KAFKA_LIBS="$CACHE/kafka-$KAFKA_VERSION/libs"
MARKER="$KAFKA_LIBS/.complete"
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

log() { printf '[install-test-deps] %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# ---------------------------------------------------------------- PostgreSQL
install_postgres() {
  if compgen -G '/usr/lib/postgresql/*/bin/initdb' > /dev/null; then
    log "postgresql: present ($(ls -d /usr/lib/postgresql/*/bin/initdb | head -n1))"
    return
  fi
  log "postgresql: installing from Debian packages"
  apt_install postgresql
  # The tests start their own throwaway servers; do not leave Debian's default
  # cluster running (or starting on boot).
  if command -v pg_lsclusters > /dev/null; then
    pg_lsclusters --no-header 2>/dev/null | while read -r ver name _port status _rest; do
      if [ "$status" = "online" ]; then
        as_root pg_ctlcluster "$ver" "$name" stop || true
      fi
      if [ -f "/etc/postgresql/$ver/$name/start.conf" ]; then
        echo manual | as_root tee "/etc/postgresql/$ver/$name/start.conf" > /dev/null
      fi
    done
  fi
  compgen -G '/usr/lib/postgresql/*/bin/initdb' > /dev/null \
    || { log "postgresql: initdb still missing after install"; exit 1; }
}

# ---------------------------------------------------------------- Java / Maven
install_java_maven() {
  local pkgs=()
  command -v java > /dev/null || pkgs+=(openjdk-17-jre-headless)
  command -v mvn > /dev/null || pkgs+=(maven)
  if [ "${#pkgs[@]}" -gt 0 ]; then
    log "installing ${pkgs[*]}"
    apt_install "${pkgs[@]}"
  fi
}

# ---------------------------------------------------------------- Kafka
kafka_stamp() {
  # Re-fetch when the pom or the version changes.
  printf '%s\n%s\n' "$KAFKA_VERSION" "$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"
}

install_kafka() {
  if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$(kafka_stamp)" ]; then
    log "kafka $KAFKA_VERSION: present in $KAFKA_LIBS"
  else
    install_java_maven
    log "kafka $KAFKA_VERSION: fetching broker jars with Maven into $KAFKA_LIBS"
    local tmp="$KAFKA_LIBS.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    trap 'rm -rf "$tmp" "$tmp.mvn.log"' EXIT
    # mvn's output goes to a log (shown on failure): even with -q it prints
    # stray colour codes.
    if ! mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" -Dkafka.version="$KAFKA_VERSION" \
      ${SANSHI_MVN_OPTS:-} "$DEP_PLUGIN:copy-dependencies" \
      -DincludeScope=runtime -DoutputDirectory="$tmp" > "$tmp.mvn.log" 2>&1; then
      tail -n 60 "$tmp.mvn.log" >&2
      log "kafka $KAFKA_VERSION: mvn dependency:copy-dependencies failed"
      exit 1
    fi
    # Sanity: broker main class, storage tool and one log4j version.
    local jar="$tmp/kafka_2.13-$KAFKA_VERSION.jar"
    [ -f "$jar" ] || { log "missing $jar"; exit 1; }
    python3 - "$jar" kafka/Kafka.class kafka/tools/StorageTool.class <<'PY' \
      || { log "broker classes missing from $jar"; exit 1; }
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
missing = [c for c in sys.argv[2:] if c not in names]
sys.exit("missing: " + " ".join(missing) if missing else 0)
PY
    local n_core
    n_core=$(find "$tmp" -maxdepth 1 -name 'log4j-core-*.jar' | wc -l)
    [ "$n_core" -eq 1 ] || { log "expected one log4j-core jar, found $n_core"; exit 1; }
    ls "$tmp"/log4j-slf4j*-impl-*.jar > /dev/null 2>&1 || { log "no log4j slf4j binding"; exit 1; }
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
    rm -f "$tmp.mvn.log"
    trap - EXIT
    kafka_stamp > "$MARKER"
  fi
  local n size
  n=$(find "$KAFKA_LIBS" -maxdepth 1 -name '*.jar' | wc -l)
  size=$(du -sh "$KAFKA_LIBS" | cut -f1)
  log "kafka $KAFKA_VERSION: $n jars, $size"
}

install_postgres
install_kafka
