"""A corpus of broken and hostile configurations, built from the shipped profile and compose file.

Each `Case` is a set of files written over a copy of the repository's `profiles/` and `compose/`,
and what `neodev config` (and, for some, `neodev start`) must then report: exit code 2, the file
and, where one applies, the key. Part of the corpus is generated, seeded and deterministic: for
every kind of setting in `profiles/local.toml` and `compose/docker-compose.local.yml` (every
leaf, with names and indices generalised) two leaves get a value of the wrong type, and every
schema table gets an unknown key and a misspelled one. The rest is written by hand: cycles,
unknown and duplicate references, missing pieces, out-of-range ports, bad globs, size, depth,
string and alias limits, invalid UTF-8, a FIFO, and so on.
"""

from __future__ import annotations

import copy
import json
import random
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from tests.constants import REPO_ROOT

PROFILE = "profiles/local.toml"
COMPOSE = "compose/docker-compose.local.yml"
ENV = ".env"
"""The profile's `env_file` (`../.env`); not shipped, so absent unless a case writes it."""
SEED = 20261126

Mutation = Callable[[Any], None]


@dataclass(frozen=True)
class Case:
    """One broken workspace and what neodev must say about it."""

    name: str
    files: dict[str, bytes]
    """Workspace-relative path -> content, written over the copied workspace."""
    file: str
    """The file stderr must name (workspace-relative)."""
    keys: tuple[str, ...] = ()
    """stderr must name one of these keys; empty when no key applies (e.g. a syntax error)."""
    needles: tuple[str, ...] = ()
    """Further text stderr must hold (the limit's name, "cycle", ...)."""
    start: bool = False
    """Also run `neodev start`, which must fail the same way before spawning a daemon."""
    fifo: str | None = None
    """Workspace-relative path to replace with a FIFO (a file that would block a reader)."""
    timeout: float = 20.0


@dataclass
class _Shipped:
    profile_text: str = field(default_factory=lambda: (REPO_ROOT / PROFILE).read_text())
    compose_text: str = field(default_factory=lambda: (REPO_ROOT / COMPOSE).read_text())

    def profile(self) -> dict[str, Any]:
        return tomllib.loads(self.profile_text)

    def compose(self) -> dict[str, Any]:
        data = yaml.safe_load(self.compose_text)
        assert isinstance(data, dict)
        return data


def corpus() -> list[Case]:
    """Every case, generated ones first; the same list on every call."""
    shipped = _Shipped()
    rng = random.Random(SEED)
    cases = [*_profile_types(shipped, rng), *_compose_types(shipped, rng),
             *_unknown_keys(shipped, rng), *_hand_written(shipped)]
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases


# --- generated ----------------------------------------------------------------------------

_WRONG: list[object] = [{"bogus": [1]}, [[1, 2]], [{"a": "b"}]]
"""Values no leaf of either file accepts: a mapping, a nested list, a list of mappings."""


def _leaves(data: object, path: str = "") -> Iterator[tuple[str, tuple[str | int, ...]]]:
    """(dotted path, access path) of every scalar leaf (and of null values, e.g. volumes)."""
    yield from _walk(data, path, ())


def _walk(data: object, path: str, parts: tuple[str | int, ...]
          ) -> Iterator[tuple[str, tuple[str | int, ...]]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _walk(value, f"{path}.{key}" if path else str(key), (*parts, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _walk(value, f"{path}[{i}]", (*parts, i))
    else:
        yield path, parts


def _set(data: Any, parts: tuple[str | int, ...], value: object) -> None:
    for part in parts[:-1]:
        data = data[part]
    data[parts[-1]] = value


def _shape(path: str) -> str:
    """A leaf's path with names and indices generalised: `services.*.ports[*]`."""
    path = re.sub(r"^(services|processes|volumes)\.[^.\[]+", r"\1.*", path)
    path = re.sub(r"\[\d+\]", "[*]", path)
    return re.sub(r"\.(environment|env|depends_on)\.[^.\[]+", r".\1.*", path)


def _typed_leaves(data: object, rng: random.Random
                  ) -> Iterator[tuple[str, tuple[str | int, ...], object]]:
    """Two leaves of each shape (one if that is all), each with another wrong value: every
    kind of setting is covered without running the same check fifty times."""
    shapes: dict[str, list[tuple[str, tuple[str | int, ...]]]] = {}
    for path, parts in _leaves(data):
        shapes.setdefault(_shape(path), []).append((path, parts))
    for leaves in shapes.values():
        wrong = rng.sample(_WRONG, 2)
        for (path, parts), value in zip(rng.sample(leaves, min(2, len(leaves))), wrong,
                                        strict=False):
            yield path, parts, value


def _profile_types(shipped: _Shipped, rng: random.Random) -> Iterator[Case]:
    for path, parts, value in _typed_leaves(shipped.profile(), rng):
        data = shipped.profile()
        _set(data, parts, value)
        yield Case(f"profile-type-{path}", {PROFILE: toml_dump(data).encode()}, PROFILE,
                   (path,), start=rng.random() < 0.1)


def _compose_types(shipped: _Shipped, rng: random.Random) -> Iterator[Case]:
    for path, parts, value in _typed_leaves(shipped.compose(), rng):
        data = shipped.compose()
        _set(data, parts, value)
        yield Case(f"compose-type-{path}", {COMPOSE: yaml.safe_dump(data).encode()}, COMPOSE,
                   (path,), start=rng.random() < 0.1)


def _schema_tables(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The profile tables whose keys are schema fields (not names: env, depends_on, ...)."""
    yield "project", data["project"]
    for kind in ("services", "processes"):
        for name, table in data.get(kind, {}).items():
            yield f"{kind}.{name}", table
            for sub in ("readiness", "liveness", "backoff"):
                if isinstance(table.get(sub), dict):
                    yield f"{kind}.{name}.{sub}", table[sub]


def _misspell(word: str, rng: random.Random) -> str:
    i = rng.randrange(len(word))
    return word[:i] + word[i + 1:] if len(word) > 3 else word + "x"


def _unknown_keys(shipped: _Shipped, rng: random.Random) -> Iterator[Case]:
    for path, _ in _schema_tables(shipped.profile()):
        data = shipped.profile()
        table = _lookup(data, path)
        table["bogus_key"] = 1
        yield Case(f"profile-unknown-{path}", {PROFILE: toml_dump(data).encode()}, PROFILE,
                   (f"{path}.bogus_key",), ("unknown key 'bogus_key'",))
        data = shipped.profile()
        table = _lookup(data, path)
        key = rng.choice(sorted(table))
        typo = _misspell(key, rng)
        table[typo] = table.pop(key)
        yield Case(f"profile-typo-{path}.{key}", {PROFILE: toml_dump(data).encode()}, PROFILE,
                   (f"{path}.{typo}",), (f"unknown key {typo!r} (did you mean {key!r}?)",))
    compose = shipped.compose()
    for service in compose["services"]:
        data = shipped.compose()
        svc = data["services"][service]
        key = rng.choice(sorted(svc))
        typo = _misspell(key, rng)
        svc[typo] = svc.pop(key)
        yield Case(f"compose-typo-{service}.{key}", {COMPOSE: yaml.safe_dump(data).encode()},
                   COMPOSE, (f"services.{service}.{typo}",),
                   (f"{typo!r} (did you mean {key!r}?)",))


def _lookup(data: dict[str, Any], path: str) -> dict[str, Any]:
    for part in path.split("."):
        data = data[part]
    return data


# --- written by hand ------------------------------------------------------------------------


def _hand_written(shipped: _Shipped) -> Iterator[Case]:
    def profile(name: str, mutate: Mutation, keys: tuple[str, ...] = (), *needles: str,
                start: bool = False) -> Case:
        data = shipped.profile()
        mutate(data)
        return Case(name, {PROFILE: toml_dump(data).encode()}, PROFILE, keys, needles,
                    start=start)

    def compose(name: str, mutate: Mutation, keys: tuple[str, ...] = (), *needles: str,
                start: bool = False, file: str = COMPOSE) -> Case:
        data = shipped.compose()
        mutate(data)
        return Case(name, {COMPOSE: yaml.safe_dump(data).encode()}, file, keys, needles,
                    start=start)

    def profile_text(name: str, text: str | bytes, keys: tuple[str, ...] = (), *needles: str,
                     start: bool = False) -> Case:
        raw = text.encode() if isinstance(text, str) else text
        return Case(name, {PROFILE: raw}, PROFILE, keys, needles, start=start)

    def compose_text(name: str, text: str | bytes, keys: tuple[str, ...] = (), *needles: str,
                     start: bool = False) -> Case:
        raw = text.encode() if isinstance(text, str) else text
        return Case(name, {COMPOSE: raw}, COMPOSE, keys, needles, start=start)

    def env_text(name: str, text: str | bytes, keys: tuple[str, ...] = (), *needles: str,
                 start: bool = False) -> Case:
        raw = text.encode() if isinstance(text, str) else text
        return Case(name, {ENV: raw}, ENV, keys, needles, start=start)

    def proc(name: str) -> Callable[[Any], dict[str, Any]]:
        return lambda d: d["processes"][name]

    backend, router, frontend = proc("backend"), proc("router"), proc("frontend")

    def postgres(data: Any) -> dict[str, Any]:
        service: dict[str, Any] = data["services"]["postgres"]
        return service
    ptext, ctext = shipped.profile_text, shipped.compose_text

    # Dependency graph.
    yield profile("cycle-processes", lambda d: backend(d)["depends_on"].update(
        frontend="started"), ("processes.backend.depends_on", "processes.router.depends_on",
                              "processes.frontend.depends_on"), "dependency cycle", start=True)
    yield profile("cycle-self", lambda d: router(d)["depends_on"].update(router="started"),
                  ("processes.router.depends_on",), "depends on itself")
    yield compose("cycle-compose", lambda d: d["services"]["prometheus"].update(
        depends_on={"grafana": {"condition": "service_started"}}),
        ("services.prometheus.depends_on", "services.grafana.depends_on"), "dependency cycle")
    yield profile("cycle-long-chain", _long_chain, ("depends_on",), "dependency cycle")
    yield profile("unknown-dependency-process", lambda d: backend(d)["depends_on"].update(
        postgress="healthy"), ("processes.backend.depends_on",), "(did you mean 'postgres'?)",
        start=True)
    yield compose("unknown-dependency-compose", lambda d: d["services"]["grafana"][
        "depends_on"].update(prometheuss={"condition": "service_healthy"}),
        ("services.grafana.depends_on",), "did you mean 'prometheus'")
    yield profile("unknown-service-override", lambda d: d["services"].update(
        postgress={"restart": "always"}), ("services.postgress",), "did you mean")
    yield compose("depends-on-not-a-mapping", lambda d: d["services"]["grafana"][
        "depends_on"].update(loki=["service_started"]), ("services.grafana.depends_on.loki",))
    yield compose("bad-condition", lambda d: d["services"]["grafana"]["depends_on"]["loki"]
                  .update(condition="service_healty"),
                  ("services.grafana.depends_on.loki.condition",), "service_healthy")

    # Missing pieces.
    yield profile("missing-compose-file", lambda d: d["project"].update(
        compose=["../compose/absent.yml"]), ("project.compose",), "not found", start=True)
    yield Case("compose-file-deleted", {PROFILE: ptext.replace(
        "docker-compose.local.yml", "docker-compose.gone.yml").encode()}, PROFILE,
        ("project.compose",), ("not found",))
    yield profile("missing-command", lambda d: backend(d).pop("command"),
                  ("processes.backend.command",), "required key 'command' is missing",
                  start=True)
    yield profile("missing-cwd", lambda d: frontend(d).pop("cwd"), ("processes.frontend.cwd",),
                  "required key 'cwd' is missing")
    yield profile("empty-command", lambda d: router(d).update(command=""),
                  ("processes.router.command",), "empty")
    yield profile("empty-argv", lambda d: router(d).update(command=[]),
                  ("processes.router.command",), "empty")
    yield profile("unsplittable-command", lambda d: router(d).update(command="./router 'open"),
                  ("processes.router.command",), "cannot split")
    yield compose("missing-image", lambda d: d["services"]["loki"].pop("image"),
                  ("services.loki",), "needs an `image:`")
    yield compose("empty-image", lambda d: d["services"]["loki"].update(image=""),
                  ("services.loki",), "image")
    yield profile_text("empty-profile", "", (), "nothing to run", start=True)
    yield profile_text("comments-only-profile", "# nothing here\n\n", (), "nothing to run")
    yield compose_text("empty-compose", "", (), "must be a mapping", start=True)
    yield compose_text("compose-is-a-list", "- a\n- b\n", (), "must be a mapping")
    yield Case("compose-services-null", {COMPOSE: b"services:\n"}, PROFILE,
               ("services.postgres",), ("unknown compose service",))
    yield compose("service-not-a-mapping", lambda d: d["services"].update(loki="grafana/loki"),
                  ("services.loki",), "must be a mapping")

    # Ports.
    for port in (0, 70000, -1):
        yield profile(f"process-port-{port}", _update(backend, port=port),
                      ("processes.backend.port",))
    yield profile("probe-port-out-of-range", lambda d: router(d).update(
        readiness={"tcp": 70000}), ("processes.router.readiness.tcp",), "out of range")
    for text in ("127.0.0.1:70000:5432", "127.0.0.1:5432:0", "127.0.0.1:54x2:5432",
                 "5432:5432", "999.1.1.1:5432:5432", "127.0.0.1:5000-5001:5432"):
        yield compose(f"compose-port-{text}", _update(postgres, ports=[text]),
                      ("services.postgres.ports[0]",))
    yield compose("compose-ports-not-a-list", lambda d: d["services"]["postgres"].update(
        ports="127.0.0.1:5432:5432"), ("services.postgres.ports",), "list")
    yield profile("duplicate-process-ports", lambda d: backend(d).update(port=3000),
                  ("processes.backend.port", "processes.frontend.port"), "already used",
                  start=True)
    yield profile("process-port-taken-by-container", lambda d: router(d).update(port=9090),
                  ("processes.router.port",), "already used by 'prometheus'")
    yield compose("duplicate-container-ports", lambda d: d["services"]["loki"].update(
        ports=["127.0.0.1:9090:3100"]), ("services.loki.ports", "services.prometheus.ports"),
        "already used")

    # Globs, probes, patterns.
    for glob in ("src/[z-a]/**", "", "../outside/**", "src/../../x"):
        yield profile(f"bad-glob-{glob or 'empty'}", _update(backend, watch=[glob]),
                      ("processes.backend.watch[0]",), "glob")
    yield profile("bad-ignore-glob", lambda d: frontend(d).update(ignore=["[b-a]"]),
                  ("processes.frontend.ignore[0]",), "glob")
    yield profile("bad-log-regex", lambda d: router(d).update(readiness={"log": "(unclosed"}),
                  ("processes.router.readiness.log",), "regular expression")
    yield profile("two-probe-kinds", lambda d: router(d)["readiness"].update(tcp=4000),
                  ("processes.router.readiness",), "exactly one")
    yield profile("bad-probe-url", lambda d: router(d)["readiness"].update(
        http="ftp://127.0.0.1/"), ("processes.router.readiness.http",))
    yield profile("bad-env-name", lambda d: backend(d)["env"].update({"A=B": "x"}),
                  ("processes.backend.env",), "variable name")
    yield profile("bad-restart", lambda d: backend(d).update(restart="sometimes"),
                  ("processes.backend.restart",), "on-failure")
    yield profile("bad-process-name", lambda d: d["processes"].update(
        {"bäckend!": {"cwd": ".", "command": "true"}}), ("processes.bäckend!",), "process name")
    yield compose("bad-service-name", lambda d: d["services"].update(
        {"pöst gres": {"image": "x"}}), ("services.pöst gres",), "service name")
    yield compose("bad-project-name", lambda d: d.update(name="Neo Tool"), ("name",))
    yield compose("bad-duration", lambda d: d["services"]["loki"]["healthcheck"].update(
        interval="10 seconds"), ("services.loki.healthcheck.interval",), "duration")
    yield compose("long-duration-digits", lambda d: d["services"]["loki"]["healthcheck"].update(
        interval="1" * 60000), ("services.loki.healthcheck.interval",), "duration")
    yield compose("bad-restart-policy", lambda d: d["services"]["loki"].update(
        restart="sometimes"), ("services.loki.restart",), "restart policy")
    yield compose("unsupported-key", lambda d: d["services"]["loki"].update(
        container_name="x"), ("services.loki.container_name",), "container_name")
    yield compose("unsupported-top-level", lambda d: d.update(configs={}), ("configs",))
    yield compose("undeclared-volume", lambda d: d["volumes"].pop("loki-data"),
                  ("services.loki.volumes[1]",), "not declared")
    yield compose("volume-definition-a-list", lambda d: d["volumes"].update(
        {"loki-data": ["x"]}), ("volumes.loki-data",))
    yield compose("extra-network", lambda d: d.update(networks={"back": {}}),
                  ("networks.back",), "default")
    yield compose("bad-healthcheck-test", lambda d: d["services"]["loki"]["healthcheck"]
                  .update(test=["RUN", "x"]), ("services.loki.healthcheck.test[0]",), "CMD")

    # Interpolation.
    yield profile("unclosed-interpolation", lambda d: backend(d)["env"].update(
        DB_HOST="${HOST"), ("processes.backend.env.DB_HOST",), "not closed")
    yield compose("required-variable", lambda d: d["services"]["loki"].update(
        image="${NEODEV_MISSING:?set it}"), ("services.loki.image",), "NEODEV_MISSING")
    yield profile("nested-interpolation-too-deep", lambda d: backend(d)["env"].update(
        DB_HOST="${A:-" * 200 + "x" + "}" * 200), ("processes.backend.env.DB_HOST",),
        "MAX_DEPTH")
    yield Case("interpolation-amplification", {
        ENV: b"BIG=" + b"x" * 60000 + b"\n",
        PROFILE: ptext.replace('DB_HOST = "127.0.0.1"',
                               'DB_HOST = "' + "${BIG}" * 9000 + '"').encode()},
        PROFILE, ("processes.backend.env.DB_HOST",), ("MAX_STRING_CHARS",))
    yield profile("bad-port-reference", lambda d: backend(d)["env"].update(
        DB_PORT="@{postgres:5433}"), ("processes.backend.env.DB_PORT",), "does not publish")
    yield profile("unterminated-references", lambda d: backend(d)["env"].update(
        DB_PORT="@{" * 30000 + "@{postgress:5432}"), ("processes.backend.env.DB_PORT",))
    def unclosed_references(data: Any) -> None:
        backend(data)["env"].update(DB_NAME="@{" * 30000)  # a search once quadratic, then
        backend(data).update(port=3000)                      # an error found after it

    yield profile("unclosed-references", unclosed_references, ("processes.frontend.port",),
                  "already used")

    # Limits: size, strings, nesting, aliases.
    yield profile("huge-command", lambda d: backend(d).update(command="x" * (1 << 20)), (),
                  "MAX_FILE_BYTES", start=True)
    yield profile("long-command", lambda d: backend(d).update(command="./gradlew " * 10000),
                  ("processes.backend.command",), "MAX_STRING_CHARS", start=True)
    yield profile("long-key", lambda d: backend(d)["env"].update({"K" * 70000: "v"}),
                  ("processes.backend.env",), "MAX_STRING_CHARS")
    yield profile("nul-in-string", lambda d: backend(d).update(command="./gradlew\0run"),
                  ("processes.backend.command",), "NUL")
    yield profile_text("profile-over-1mib", ptext + "#" * (1 << 20) + "\n", (),
                       "MAX_FILE_BYTES")
    yield profile_text("toml-500-inline-tables", "[project]\nx = " + "{ a = " * 500 + "1"
                       + " }" * 500 + "\n", (), "MAX_DEPTH", start=True)
    yield profile_text("toml-500-arrays", "[project]\nx = " + "[" * 500 + "]" * 500 + "\n",
                       (), "MAX_DEPTH")
    yield profile_text("toml-100-arrays", "[project]\nx = " + "[" * 100 + "]" * 100 + "\n",
                       ("project.x",), "MAX_DEPTH")
    yield profile_text("toml-deep-headers", "[" + ".".join(["a"] * 2000) + "]\n", ("a.a.a",),
                       "MAX_DEPTH")
    yield profile_text("toml-huge-integer", ptext.replace("port = 8080", "port = "
                                                          + "9" * 5000), (), "integer")
    yield profile_text("toml-syntax-error", ptext.replace("port = 8080", "port = = 8080"), (),
                       "TOML syntax error")
    yield profile_text("toml-nul-escape", ptext.replace('DB_HOST = "127.0.0.1"',
                                                        'DB_HOST = "127\\u0000"'),
                       ("processes.backend.env.DB_HOST",), "NUL")
    yield profile_text("toml-dotted-key-brackets", ptext.replace(
        'DB_HOST = "127.0.0.1"', '"A[x]" = "${UNSET_VARIABLE:?must be set}"'),
        ("processes.backend.env.A[x]",), "UNSET_VARIABLE")
    yield compose_text("alias-bomb", _alias_bomb(9, 9) + ctext, ("x-l",), "MAX_ALIAS_NODES",
                       start=True)
    # PyYAML (6.0.4) merges each anchor once, so this one stays small: it must not hang either.
    yield compose_text("merge-key-bomb", _merge_bomb(9, 9) + ctext + "bogus_top: 1\n",
                       ("bogus_top",), "top-level key")
    yield compose_text("recursive-alias", "x-a: &a [*a]\n" + ctext, ("x-a",), "MAX_DEPTH")
    yield compose_text("yaml-500-lists", "x-deep: " + "[" * 500 + "]" * 500 + "\n" + ctext,
                       (), "MAX_DEPTH", start=True)
    yield compose_text("yaml-100-mappings", "x-deep: " + "{a: " * 100 + "1" + "}" * 100
                       + "\n" + ctext, ("x-deep.a.a",), "MAX_DEPTH")
    yield compose("yaml-long-string", lambda d: d["services"]["loki"].update(
        image="grafana/loki:" + "3" * 70000), ("services.loki.image",), "MAX_STRING_CHARS")
    yield compose_text("compose-over-1mib", ctext + "#" * (1 << 20), (), "MAX_FILE_BYTES")
    yield compose_text("yaml-huge-integer", ctext.replace("retries: 15", "retries: "
                                                          + "9" * 5000),
                       ("services.postgres.healthcheck.retries",), "int")
    yield compose_text("yaml-bad-timestamp", ctext.replace(
        'GF_USERS_ALLOW_SIGN_UP: "false"', "GF_USERS_ALLOW_SIGN_UP: 2001-13-45"),
        ("services.grafana.environment.GF_USERS_ALLOW_SIGN_UP",), "timestamp")
    yield compose_text("yaml-bad-int-tag", ctext.replace("retries: 15", "retries: !!int abc"),
                       ("services.postgres.healthcheck.retries",), "int")
    yield compose_text("yaml-complex-key", "? [a, b]\n: 1\n" + ctext, (), "scalars")
    yield compose_text("yaml-set-key", "? !!set {a: null}\n: 1\n" + ctext, (), "scalars")
    yield compose_text("yaml-nul-escape", ctext.replace('GF_USERS_ALLOW_SIGN_UP: "false"',
                                                        'GF_USERS_ALLOW_SIGN_UP: "a\\0b"'),
                       ("services.grafana.environment.GF_USERS_ALLOW_SIGN_UP",), "NUL")
    yield compose_text("yaml-syntax-error", ctext.replace("    ports:\n", "   ports: [\n", 1),
                       (), "YAML syntax error", start=True)
    yield compose_text("yaml-tab-indent", ctext.replace("  postgres:\n", "\tpostgres:\n", 1),
                       (), "YAML")
    yield compose_text("yaml-duplicate-key", ctext.replace(
        "    stop_signal: SIGINT\n", "    stop_signal: SIGINT\n    stop_signal: SIGTERM\n"),
        ("services.postgres",), "duplicate key 'stop_signal'")
    yield compose_text("yaml-undefined-alias", ctext.replace("retries: 15", "retries: *nope"),
                       (), "nope")

    # Encodings and file kinds.
    yield profile_text("profile-invalid-utf8", ptext.encode().replace(
        b'name = "neotool"', b'name = "neo\xfftool"'), (), "UTF-8", start=True)
    yield profile_text("profile-latin1", ("# caf\u00e9\n" + ptext).encode("latin-1"), (),
                       "UTF-8")
    yield compose_text("compose-invalid-utf8", ctext.encode().replace(
        b"stop_signal: SIGINT", b"stop_signal: SIG\xc3\x28INT"), (), "UTF-8")
    yield compose_text("compose-nul-byte", ctext.encode() + b"\0", (), "NUL")
    yield env_text("env-invalid-utf8", b"POSTGRES_USER=n\xe9otool\n", (), "UTF-8", start=True)
    yield env_text("env-over-1mib", b"A=" + b"x" * (1 << 20) + b"\n", (), "MAX_FILE_BYTES")
    yield env_text("env-long-value", b"POSTGRES_USER=" + b"x" * 70000 + b"\n",
                   ("POSTGRES_USER",), "MAX_STRING_CHARS")
    yield env_text("env-many-keys-then-bad-line", b"".join(
        b"K%d=v\n" % i for i in range(90000)) + b"NOT A PAIR\n", (), "expected KEY=VALUE")
    yield env_text("env-bad-line", "POSTGRES_USER=neotool\nexport 1BAD=x\n", (),
                   "not a valid variable name")
    yield Case("env-is-a-fifo", {}, ENV, (), ("not a regular file",), fifo=ENV, start=True)
    yield Case("env-is-a-directory", {f"{ENV}/placeholder": b""}, ENV, (),
               ("not a regular file",))


def _update(table: Callable[[Any], dict[str, Any]], **values: object) -> Mutation:
    """A mutation that sets `values` in the table `table(data)` returns."""
    return lambda data: table(data).update(values)


def _long_chain(data: dict[str, Any]) -> None:
    """1500 processes, each depending on the next, the last on the first."""
    count = 1500
    for i in range(count):
        data["processes"][f"p{i}"] = {"cwd": ".", "command": "true",
                                      "depends_on": {f"p{(i + 1) % count}": "started"}}


def _alias_bomb(levels: int, width: int) -> str:
    lines = ['x-l0: &l0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"x-l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _merge_bomb(levels: int, width: int) -> str:
    lines = ["x-m0: &m0 {a: 1, b: 2, c: 3}"]
    for i in range(1, levels + 1):
        lines.append(f"x-m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * width) + "]}")
    return "\n".join(lines) + "\n"


# --- a small TOML writer (tomllib reads only) -----------------------------------------------

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def toml_dump(data: dict[str, Any]) -> str:
    """TOML text for `data`: scalars and lists inline, each nested table under a header."""
    out: list[str] = []
    _table(data, [], out)
    return "\n".join(out) + "\n"


def _table(data: dict[str, Any], path: list[str], out: list[str]) -> None:
    inline = {k: v for k, v in data.items() if not (isinstance(v, dict) and v)}
    if path and (inline or not data):  # a table holding only tables needs no header
        out.append("[" + ".".join(_key(p) for p in path) + "]")
    out.extend(f"{_key(k)} = {_value(v)}" for k, v in inline.items())
    for key, value in data.items():
        if key not in inline:
            _table(value, [*path, key], out)


def _key(key: str) -> str:
    return key if _BARE.fullmatch(key) else _string(key)


def _string(text: str) -> str:
    # JSON strings are TOML basic strings, once DEL (which JSON leaves raw) is escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def round_trip_ok() -> bool:
    """The writer reproduces the shipped profile's data (checked by the fuzz test)."""
    shipped = _Shipped()
    return tomllib.loads(toml_dump(copy.deepcopy(shipped.profile()))) == shipped.profile()
