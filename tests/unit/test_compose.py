"""docker-compose.yml, the Dockerfile and .dockerignore, checked by reading them (no Docker here).

Every command a service or a health check runs must be a real ``shiftswitch`` command with
options it accepts, and every variable the file uses must be documented in the README.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from shiftswitch.cli import cli
from shiftswitch.settings import CONNECT_TIMEOUT, Settings
from tests import ROOT

COMPOSE = ROOT / "docker-compose.yml"
OURS = {"migrate", "worker", "scheduler", "sandbox", "api"}  # built from the Dockerfile


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())  # merge keys (<<) resolved
    return data


def parse_shiftswitch(args: list[str]) -> click.Command:
    """Resolve ``args`` (after ``shiftswitch``) to a command and parse its options: raise if
    the command does not exist or an option is wrong."""
    command: click.Command = cli
    name = "shiftswitch"
    while isinstance(command, click.Group):
        ctx = command.make_context(name, list(args), resilient_parsing=True)
        assert args, f"{name}: no subcommand given"
        sub = command.get_command(ctx, args[0])
        assert sub is not None, f"'{args[0]}' is not a command of '{name}'"
        name, command, args = f"{name} {args[0]}", sub, args[1:]
    command.make_context(name, list(args))  # raises click.UsageError on a bad option
    return command


def test_the_services_are_all_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {
        "redis", "postgres", "migrate", "worker", "scheduler", "sandbox", "api"
    }  # fmt: skip
    for name in ("redis", "postgres", "worker", "scheduler", "sandbox", "api"):
        assert "healthcheck" in services[name], name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    for name in ("worker", "scheduler", "api"):
        needs = services[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
        assert needs["redis"]["condition"] == "service_healthy"
    assert services["sandbox"]["profiles"] == ["sandbox"]
    for name in OURS:
        assert services[name]["build"] == ".", name


@pytest.mark.parametrize(
    ("service", "command"),
    [
        ("migrate", "upgrade"),
        ("worker", "worker"),
        ("scheduler", "scheduler"),
        ("sandbox", "sandbox"),
        ("api", "api"),
    ],
)
def test_each_service_runs_a_real_command(
    compose: dict[str, Any], service: str, command: str
) -> None:
    assert parse_shiftswitch(compose["services"][service]["command"]).name == command


@pytest.mark.parametrize("service", sorted(OURS - {"migrate"}))
def test_each_health_check_calls_shiftswitch_check(compose: dict[str, Any], service: str) -> None:
    test = compose["services"][service]["healthcheck"]["test"]
    if test[0] == "CMD-SHELL":
        # $$ is compose's escape for $; the shell substitutes the hostname at run time
        argv = shlex.split(test[1].replace("$$(hostname)", "HOST"))
    else:
        assert test[0] == "CMD"
        argv = test[1:]
    assert argv[0] == "shiftswitch"
    assert parse_shiftswitch(argv[1:]).name == "check"


def test_the_health_checks_of_the_services_we_build_ask_for_real_checks(
    compose: dict[str, Any],
) -> None:
    from shiftswitch.health import CHECKS  # noqa: PLC0415

    for service in OURS - {"migrate"}:
        text = " ".join(compose["services"][service]["healthcheck"]["test"])
        only = re.search(r"--only[ =](\S+)", text)
        assert only, service
        assert set(only.group(1).split(",")) <= set(CHECKS), service


def test_every_variable_is_documented(compose: dict[str, Any]) -> None:
    readme = (ROOT / "README.md").read_text()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    for service in OURS:
        used |= set(compose["services"][service].get("environment") or {})
    assert used  # the file does use some
    for name in sorted(used):
        generic = re.sub(r"^EXOTEL_[A-Z0-9_]+?_(API_KEY|API_TOKEN)$", r"EXOTEL_<ACCOUNT>_\1", name)
        assert f"`{name}`" in readme or f"`{generic}`" in readme, f"{name} not in the README"


def copied() -> list[str]:
    """What the Dockerfile copies from the build context, in order."""
    text = (ROOT / "Dockerfile").read_text()
    return [s for line in text.splitlines() if line.startswith("COPY ") for s in line.split()[1:-1]]


def test_the_dockerfile_copies_what_exists_and_runs_shiftswitch() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for source in copied():
        assert (ROOT / source).exists(), source
    assert 'ENTRYPOINT ["shiftswitch"]' in text
    assert "USER " in text  # not root


def test_the_dependencies_are_a_layer_before_the_code() -> None:
    """A change to the code rebuilds from its COPY on: the dependencies' layer stays cached."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    deps = next(i for i, line in enumerate(lines) if "pip install -r" in line)
    code = next(i for i, line in enumerate(lines) if line.startswith("COPY shiftswitch"))
    assert deps < code
    before = [line for line in lines[:deps] if line.startswith("COPY ")]
    assert before == ["COPY pyproject.toml ./"]  # only what the dependencies come from
    # The list is pyproject.toml's (with the PostgreSQL driver), not a copy of it.
    run = " ".join(lines[deps - 1 : deps + 1])
    assert '["dependencies"]' in run and '["optional-dependencies"]["postgres"]' in run
    assert any(re.search(r"pip install --no-deps \.( |$)", line) for line in lines[code:])
    # The roster reader's C part is built in the image, and the build fails without it.
    assert any("import shiftswitch.roster._fastyaml" in line for line in lines[code:])


def dockerignore() -> list[str]:
    text = (ROOT / ".dockerignore").read_text()
    return [p.strip() for p in text.splitlines() if p.strip() and not p.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` (relative to the context) out, as far as these patterns
    go (no ``!`` exceptions are used)."""
    parts = Path(path).parts
    for pattern in patterns:
        assert not pattern.startswith("!"), pattern
        bare = pattern.removeprefix("**/")
        candidates = parts if bare != pattern else parts[:1]  # "**/x" matches x at any depth
        if any(fnmatch.fnmatchcase(part, bare) for part in candidates):
            return True
    return False


def test_the_build_context_keeps_secrets_and_local_state_out() -> None:
    patterns = dockerignore()
    for source in copied():
        assert not ignored(source, patterns), f"{source} is copied but .dockerignore drops it"
    for kept_out in (".env", ".git", ".venv", "shiftswitch.db", "shiftswitch/__pycache__/x.pyc"):
        assert ignored(kept_out, patterns), kept_out


def seconds(duration: str) -> float:
    """A compose duration such as ``30s``, ``1m30s``."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    found = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert found and "".join(n + u for n, u in found) == duration, duration
    return sum(float(n) * units[u] for n, u in found)


def test_the_worker_is_given_longer_than_one_request_to_stop(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    timeout = (worker.get("environment") or {}).get("SHIFTSWITCH_HTTP_TIMEOUT")
    request = float(timeout or Settings().http_timeout) + CONNECT_TIMEOUT
    assert seconds(worker["stop_grace_period"]) > request + 5  # and a margin


def test_there_is_no_default_database_password(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    uses = re.findall(r"\$\{POSTGRES_PASSWORD([^}]*)\}", text)
    assert uses  # the database and the services' URL
    assert all(u.startswith(":?") for u in uses), uses  # required, never defaulted
    password = compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert password.startswith("${POSTGRES_PASSWORD:?")


def test_the_api_is_published_on_loopback_only(compose: dict[str, Any]) -> None:
    ports = compose["services"]["api"]["ports"]
    assert ports and all(str(p).startswith("127.0.0.1:") for p in ports), ports
