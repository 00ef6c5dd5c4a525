"""deploy/compose/bootstrap.sh, run for real on a copy of deploy/ with a stand-in `docker`
on PATH (no Docker daemon here): the stand-in runs the script's in-container shell with a
stand-in `sunlight` that prints each account's password the way `sunlight devices`
does. Checks the env files it writes: every account's password reaches whoever logs in
with it, the database password is the same in both places, modes 0600, and a second run
changes nothing."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.support.deploy import DEPLOY, password_envs

DOCKER = r'''#!/bin/sh
# stand-in for the docker CLI: log the call; run `compose run … broker-files sh -ec …`
echo "$*" >> "$BOOTSTRAP_LOG"
while [ $# -gt 0 ] && [ "$1" != broker-files ]; do shift; done
[ $# -gt 0 ] || exit 0
shift
exec "$@"
'''

SUNLIGHT = r'''#!/bin/sh
# stand-in for `sunlight devices service NAME …` and `sunlight devices add ID …`
echo "sunlight $*" >> "$BOOTSTRAP_LOG"
case "$2" in
    service) user="sunlight-$3" ;;
    add) user="$3" ;;
    *) echo "unexpected: $*" >&2; exit 2 ;;
esac
echo "Created credentials for $user."
echo "  username: $user"
echo "  password: pw-$user"
echo "wrote /mosquitto/auth/passwd and /mosquitto/auth/acl (3 accounts)"
'''


def _stub(directory: Path, name: str, text: str) -> None:
    path = directory / name
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def bootstrap(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    if shutil.which("openssl") is None:
        pytest.skip("bootstrap.sh makes secrets with openssl")
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("*.env"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "docker", DOCKER)
    _stub(bin_dir, "sunlight", SUNLIGHT)
    log = tmp_path / "calls.log"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "BOOTSTRAP_LOG": str(log)}
    return copy, log, env


def _run(copy: Path, env: dict[str, str]) -> str:
    result = subprocess.run(["sh", str(copy / "compose" / "bootstrap.sh")], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _values(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines()
                if line and not line.startswith("#"))


def test_bootstrap_writes_every_secret_where_it_is_used(
        bootstrap: tuple[Path, Path, dict[str, str]]) -> None:
    copy, log, env = bootstrap
    _run(copy, env)
    env_dir = copy / "compose" / "env"
    made = {p.name for p in env_dir.glob("*.env")}
    examples = {p.name.removesuffix(".example") for p in env_dir.glob("*.env.example")}
    assert made == examples  # one file per example, the same variables
    for path in env_dir.glob("*.env"):
        assert set(_values(path)) == set(_values(path.with_name(path.name + ".example"))), \
            path.name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    database = _values(env_dir / "database.env")["POSTGRES_PASSWORD"]
    sunlight = _values(env_dir / "sunlight.env")
    assert len(database) == 48 and "change-me" not in sunlight.values()
    assert sunlight["DATABASE_URL"] == \
        f"postgresql://sunlight:{database}@timescaledb:5432/sunlight"
    for service in ("ingest", "vision", "board"):
        assert _values(env_dir / f"{service}.env")["MQTT_URL"] == \
            f"mqtt://sunlight-{service}:pw-sunlight-{service}@mosquitto:1883"
    assert _values(env_dir / "mosquitto.env") == {"HEALTH_USER": "sunlight-board",
                                                  "HEALTH_PASSWORD": "pw-sunlight-board"}
    edge = _values(env_dir / "edge.env")
    simulator = yaml.safe_load((copy / "compose" / "edge-simulator.yaml").read_text())
    for item in (*simulator["sensors"], *simulator["cameras"]):
        assert edge[item["credentials"]["password_env"]] == f"pw-{item['device']}"
    assert set(edge) - {"EDGE_MQTT_URL"} == password_envs([copy / "compose" /
                                                           "edge-simulator.yaml"])
    calls = log.read_text()
    assert "up -d --wait timescaledb" in calls and "run --rm migrate" in calls
    assert "sunlight devices service ingest --dir /mosquitto/auth --group mosquitto" in calls
    assert "sunlight devices add cam-b3-stairwell --rotate --dir /mosquitto/auth" in calls


def test_a_second_run_changes_nothing(bootstrap: tuple[Path, Path, dict[str, str]]) -> None:
    copy, log, env = bootstrap
    _run(copy, env)
    env_dir = copy / "compose" / "env"
    before = {p.name: p.read_text() for p in env_dir.glob("*.env")}
    log.write_text("")
    out = _run(copy, env)
    assert "nothing to do" in out
    assert {p.name: p.read_text() for p in env_dir.glob("*.env")} == before
    assert "sunlight devices" not in log.read_text()  # no password rotated
    # deleting one file remakes that account's password only
    (env_dir / "vision.env").unlink()
    _run(copy, env)
    assert "sunlight devices service vision" in log.read_text()
    assert "devices service ingest" not in log.read_text()
    assert (env_dir / "ingest.env").read_text() == before["ingest.env"]


def test_the_stand_in_matches_what_sunlight_prints() -> None:
    """The stand-in prints the two lines bootstrap.sh parses exactly as
    `sunlight devices` does (typer.echo of '  username: …' and '  password: …')."""
    source = (DEPLOY.parent / "services" / "cli" / "devices.py").read_text()
    assert 'typer.echo(f"  username: {username}")' in source
    assert 'typer.echo(f"  password: {password}")' in source
    assert textwrap.dedent(SUNLIGHT).count("  username: ") == 1
