"""docker-compose.yml and the Dockerfile, checked by reading them (no Docker here).

Every command a service or a health check runs must be a real ``shiftswitch`` command with
options it accepts, and every variable the file uses must be documented in the README.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import click
import pytest
import yaml

from shiftswitch.cli import cli
from tests import ROOT

COMPOSE = ROOT / "docker-compose.yml"
OURS = {"migrate", "worker", "scheduler", "sandbox"}  # built from the Dockerfile


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
    assert set(services) == {"redis", "postgres", "migrate", "worker", "scheduler", "sandbox"}
    for name in ("redis", "postgres", "worker", "scheduler", "sandbox"):
        assert "healthcheck" in services[name], name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    for name in ("worker", "scheduler"):
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


def test_the_dockerfile_copies_what_exists_and_runs_shiftswitch() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
    assert 'ENTRYPOINT ["shiftswitch"]' in text
    assert re.search(r"pip install \"\.\[postgres\]\"", text)
    assert "USER " in text  # not root
