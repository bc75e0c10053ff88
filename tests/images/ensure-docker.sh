#!/usr/bin/env bash
# Make sure a Docker engine answers, or fail loudly explaining what to do.
#
# - `docker info` answers: nothing to do.
# - Debian and root (the CI machines: no systemd, engine not installed or not running): install
#   docker.io with apt when dockerd is missing, clear a stale pid file left by an unclean stop,
#   start dockerd in the background and wait (bounded) for it to answer.
# - Anywhere else: say what to install/start and exit non-zero.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_DIR="$HERE/.build"
DOCKERD_LOG="$LOG_DIR/dockerd.log"
WAIT_SECONDS="${NEODEV_DOCKER_WAIT_SECONDS:-60}"
PID_FILE="${NEODEV_DOCKER_PID_FILE:-/var/run/docker.pid}"

log() { printf '[ensure-docker] %s\n' "$*"; }
fail() {
    printf '\n[ensure-docker] ERROR: %s\n' "$*" >&2
    printf '[ensure-docker] The tests need a real Docker engine; they never skip without one.\n\n' >&2
    exit 1
}

engine_answers() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

if engine_answers; then
    log "engine ok: $(docker version --format 'Docker Engine {{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null)"
    exit 0
fi

if [[ -n "${DOCKER_HOST:-}" ]]; then
    fail "DOCKER_HOST=$DOCKER_HOST is set but no engine answers there. Start that engine, or unset DOCKER_HOST to use the local one."
fi

if [[ ! -r /etc/debian_version || "$(id -u)" != 0 ]]; then
    fail "no Docker engine answers. Install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop, start it, make sure 'docker info' works for this user, then run the tests again."
fi

export DEBIAN_FRONTEND=noninteractive
if ! command -v dockerd >/dev/null 2>&1; then
    log "dockerd is not installed: apt-get install docker.io"
    apt-get update -qq || fail "apt-get update failed"
    apt-get install -y -qq docker.io >/dev/null || fail "apt-get install docker.io failed"
fi
if ! command -v docker >/dev/null 2>&1; then
    fail "dockerd is installed but the docker CLI is not (apt-get install docker.io or docker-ce-cli)"
fi

# A pid file from an unclean stop makes dockerd refuse to start (reference §11). Remove it only
# when its pid is not a running dockerd; when it is, that dockerd is still starting: wait for it.
start_dockerd=1
if [[ -f "$PID_FILE" ]]; then
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    # A killed dockerd whose parent never reaps it stays a zombie named dockerd: not running.
    state="$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ && "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd \
            && "$state" != Z ]]; then
        log "dockerd (pid $pid) is running but does not answer yet: waiting for it"
        start_dockerd=0
    else
        log "removing stale $PID_FILE (pid '${pid}' is not a running dockerd)"
        rm -f "$PID_FILE"
    fi
fi

if [[ "$start_dockerd" == 1 ]]; then
    mkdir -p "$LOG_DIR"
    log "starting dockerd in the background (log: $DOCKERD_LOG)"
    setsid dockerd --pidfile "$PID_FILE" >"$DOCKERD_LOG" 2>&1 < /dev/null &
fi

for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
    if engine_answers; then
        log "engine ok after $((i / 2)) s: $(docker version --format 'Docker Engine {{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null)"
        exit 0
    fi
    sleep 0.5
done

if [[ -f "$DOCKERD_LOG" ]]; then
    printf '[ensure-docker] last lines of %s:\n' "$DOCKERD_LOG" >&2
    tail -n 20 "$DOCKERD_LOG" >&2
fi
fail "dockerd did not answer within ${WAIT_SECONDS} s"
