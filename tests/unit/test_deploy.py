"""deploy/: the compose stack, the Dockerfile and the systemd units, checked for what can be
checked without running them: structure, health checks, restart policies, the `sunlight`
command lines they run (against the real typer app), the settings they set, and that no
secret is written in them. `docker compose config` and `systemd-analyze verify` run when
installed. Kubernetes: test_deploy_kubernetes.py; the Mosquitto configs in the real
broker: tests/integration/test_deploy_mosquitto.py."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.config import EdgeConfig
from edge.scenes.__main__ import main as scenes_main
from services.config import load_config, load_model
from tests.support.deploy import (
    DEPLOY,
    ROOT,
    SECRET_NAME,
    URL_WITH_PASSWORD,
    check_sunlight_argv,
    inline_passwords,
    option_default,
    option_value,
    password_envs,
    sunlight_argvs_in_text,
    sunlight_env_names,
)

COMPOSE_FILE = DEPLOY / "compose.yaml"
COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
ENV_DIR = DEPLOY / "compose" / "env"
EDGE_SIMULATOR = DEPLOY / "compose" / "edge-simulator.yaml"
ESTATE = load_config(DEPLOY / "estate.example.yaml")
OUR_IMAGE = "deploy/Dockerfile"
PLACEHOLDER = "change-me"


def _ours(service: dict[str, Any]) -> bool:
    return bool(service.get("build", {}).get("dockerfile") == OUR_IMAGE)


def _one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no"


def _command_text(service: dict[str, Any]) -> str:
    command = service.get("command", [])
    return command if isinstance(command, str) else "\n".join(command)


def _sunlight_argvs(service: dict[str, Any]) -> list[list[str]]:
    command = service.get("command", [])
    if isinstance(command, list) and command and command[0] == "sunlight":
        return [command]
    return sunlight_argvs_in_text(_command_text(service).replace("$$", "$"))


def _env_file_values(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f"{path}: {line!r} is not NAME=value"
            values[name.strip()] = value.strip()
    return values


# --- compose: structure ------------------------------------------------------------------


def test_every_service_has_a_restart_policy_and_a_health_check() -> None:
    for name, service in SERVICES.items():
        assert service.get("restart") in ("no", "always", "unless-stopped", "on-failure"), name
        health = service.get("healthcheck")
        assert isinstance(health, dict), f"{name}: no healthcheck"
        if _one_shot(service):
            # jobs that run to completion: their dependants wait for that instead
            assert health == {"disable": True}, name
        else:
            assert health.get("test") and not health.get("disable"), name
            assert health["test"][0] in ("CMD", "CMD-SHELL"), name
            for key in ("interval", "timeout", "retries"):
                assert key in health, f"{name}: healthcheck without {key}"


def test_dependencies_wait_for_health_or_completion() -> None:
    for name, service in SERVICES.items():
        for target, condition in service.get("depends_on", {}).items():
            assert target in SERVICES, f"{name} depends on unknown {target}"
            wanted = condition["condition"]
            if _one_shot(SERVICES[target]):
                assert wanted == "service_completed_successfully", (name, target)
            else:
                assert wanted == "service_healthy", (name, target)
    # each one-shot job is waited for by someone
    waited = {t for s in SERVICES.values() for t in s.get("depends_on", {})}
    assert {n for n, s in SERVICES.items() if _one_shot(s)} <= waited | {"migrate"}
    for needs_schema in ("ingest", "board", "broker-files"):
        assert "migrate" in SERVICES[needs_schema]["depends_on"], needs_schema


def test_the_stack_has_each_part() -> None:
    assert {"timescaledb", "mosquitto", "migrate", "ingest", "vision", "board",
            "edge-simulator"} <= set(SERVICES)
    image = SERVICES["timescaledb"]["image"]
    assert re.fullmatch(r"timescale/timescaledb:[0-9.]+-pg1[56]", image), image
    assert SERVICES["mosquitto"]["image"].startswith("eclipse-mosquitto:2.")
    for name in ("migrate", "ingest", "vision", "board", "edge-simulator", "broker-files"):
        assert _ours(SERVICES[name]), name


def test_the_services_run_real_sunlight_commands() -> None:
    seen = set()
    for name, service in SERVICES.items():
        for argv in _sunlight_argvs(service):
            assert check_sunlight_argv(argv) == [], name
            seen.add(argv[1])
    assert {"db", "ingest", "vision", "board", "edge", "devices"} <= seen
    migrate = _sunlight_argvs(SERVICES["migrate"])
    assert migrate == [["sunlight", "db", "upgrade"]]


def test_the_edge_simulator_renders_scenes_with_real_options() -> None:
    script = _command_text(SERVICES["edge-simulator"]).replace("$$", "$")
    used = set(re.findall(r"(--[a-z-]+)", script.split("exec sunlight")[0]))
    assert used, "the scenes are rendered before the agent starts"
    # `python -m edge.scenes --help` (argparse) lists every option the script gives
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        scenes_main(["--help"])
    assert exit_info.value.code == 0
    assert used <= set(re.findall(r"(--[a-z-]+)", out.getvalue())), used
    # the videos it renders are the simulator's camera sources
    edge = load_model(EdgeConfig, EDGE_SIMULATOR)
    for camera in edge.cameras:
        folder = str(Path(camera.source).parent).replace("/var/lib/sunlight-edge/scenes",
                                                          "$scenes")
        assert f"{folder} --kind" in script, camera.device
        assert Path(camera.source).name == "scene.mp4"


def test_health_checks_use_the_ports_the_commands_listen_on() -> None:
    def curl_port(name: str) -> int:
        test = " ".join(SERVICES[name]["healthcheck"]["test"])
        match = re.search(r"http://127\.0\.0\.1:(\d+)/(\S+)", test)
        assert match, name
        return int(match.group(1))

    ingest = SERVICES["ingest"]["command"]
    assert curl_port("ingest") == int(option_value(ingest, "--metrics-port")
                                      or option_default(["ingest"], "--metrics-port"))
    vision = SERVICES["vision"]["command"]
    assert curl_port("vision") == int(option_value(vision, "--metrics-port")
                                      or option_default(["vision"], "--metrics-port"))
    board = SERVICES["board"]["command"]
    assert curl_port("board") == int(option_value(board, "--port") or 0)
    assert "/api/health" in " ".join(SERVICES["board"]["healthcheck"]["test"])
    assert option_value(board, "--host") == "0.0.0.0"  # reachable through the port mapping
    assert any(p.endswith(":8000") for p in SERVICES["board"]["ports"])
    for name in ("timescaledb", "mosquitto"):
        test = " ".join(SERVICES[name]["healthcheck"]["test"])
        assert ("pg_isready" if name == "timescaledb" else "mosquitto_sub") in test


def test_mosquitto_uses_the_shipped_config_with_tls_and_per_device_auth() -> None:
    broker = SERVICES["mosquitto"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in broker["volumes"]}
    assert mounts["/mosquitto/config/mosquitto.conf"] == "./mosquitto/compose.conf"
    assert "/mosquitto/certs" in mounts and "/mosquitto/auth" in mounts
    assert not mounts["/mosquitto/certs"].startswith("."), "certificates come from a volume"
    conf = (DEPLOY / "mosquitto" / "compose.conf").read_text()
    for path in ("/mosquitto/certs/ca.crt", "/mosquitto/certs/server.crt",
                 "/mosquitto/certs/server.key", "/mosquitto/auth/passwd", "/mosquitto/auth/acl"):
        assert path in conf
    # TLS is published; plain MQTT stays on the compose network
    published = [p.rsplit(":", 1)[-1] for p in broker["ports"]]
    assert published == ["8883"]
    # the files the broker reads are written by broker-files into the same volume
    files = SERVICES["broker-files"]
    assert any(v.startswith(mounts["/mosquitto/auth"] + ":") for v in files["volumes"])
    assert option_value(files["command"], "--dir") == "/mosquitto/auth"
    assert option_value(files["command"], "--group") == "mosquitto"


def test_bind_mounts_and_env_files_exist_in_the_repository() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source}"
            else:
                assert source in COMPOSE["volumes"], f"{name}: undeclared volume {source}"
        for env_file in service.get("env_file", []):
            example = DEPLOY / f"{env_file}.example"
            assert example.exists(), f"{name}: {env_file} has no .example"


def test_the_estate_and_edge_configs_mounted_are_valid() -> None:
    edge = load_model(EdgeConfig, EDGE_SIMULATOR)
    assert edge.site == ESTATE.site.id
    known = set(ESTATE.device_ids)
    for device, credentials in [(s.device, s.credentials) for s in edge.sensors] + \
            [(c.device, c.credentials) for c in edge.cameras]:
        assert device in known, device
        assert credentials.password_env, f"{device} logs in with its own password"
    assert {c.device for c in edge.cameras} == {c.id for c in ESTATE.cameras}
    assert str(edge.queue.path).startswith("/var/lib/sunlight-edge/")
    mounts = [v.split(":")[1] for v in SERVICES["edge-simulator"]["volumes"]]
    assert "/var/lib/sunlight-edge" in mounts  # the queue survives a restart
    command = _command_text(SERVICES["edge-simulator"])
    assert "/etc/sunlight/edge-simulator.yaml" in mounts and \
        "sunlight edge /etc/sunlight/edge-simulator.yaml" in command


# --- compose: settings and secrets -------------------------------------------------------


def _service_env_names(service: dict[str, Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    names.update({k: str(v) for k, v in env.items()})
    for env_file in service.get("env_file", []):
        names.update(_env_file_values(DEPLOY / f"{env_file}.example"))
    return names


def test_the_variables_set_for_our_services_are_settings_they_read() -> None:
    known = sunlight_env_names()
    device_passwords = password_envs([EDGE_SIMULATOR])
    edge_only = {"EDGE_MQTT_URL", *device_passwords}
    outside = {"SUNLIGHT_BROKER_HOST"}  # read by compose/make-certs.sh
    for name, service in SERVICES.items():
        if not _ours(service):
            continue
        for variable in _service_env_names(service):
            if name == "edge-simulator" and variable in edge_only:
                continue
            assert variable in known | outside, f"{name}: {variable} is read by nothing"
    # optional settings shown commented out in the examples are real too
    for example in ENV_DIR.glob("*.env.example"):
        for variable in re.findall(r"^# ?([A-Z][A-Z0-9_]+)=", example.read_text(), re.M):
            assert variable in known, f"{example.name}: {variable}"
    # every device of the simulator gets its password
    assert device_passwords <= set(_service_env_names(SERVICES["edge-simulator"]))


def test_the_examples_hold_placeholders_only() -> None:
    for example in sorted(ENV_DIR.glob("*.env.example")):
        for name, value in _env_file_values(example).items():
            if SECRET_NAME.search(name):
                assert value == PLACEHOLDER, f"{example.name}: {name}"
            match = URL_WITH_PASSWORD.search(value)
            if match:
                assert match.group(1) == PLACEHOLDER, f"{example.name}: {name}"
    ignored = (DEPLOY / "compose" / ".gitignore").read_text()
    assert "env/*.env" in ignored.split()


def test_no_secret_is_written_in_the_compose_file() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert inline_passwords(text) == []
    for name, service in SERVICES.items():
        env = service.get("environment", {})
        for variable, value in env.items():
            if SECRET_NAME.search(variable):
                pytest.fail(f"{name}: {variable} is set in compose.yaml, not an env file")
            assert inline_passwords(str(value)) == [], f"{name}: {variable}"
    for match in re.finditer(r"-P\s+(\S+)", text):  # the broker health check's password
        assert "HEALTH_PASSWORD" in match.group(1)


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    """`docker compose config` (or docker-compose v1) on a copy with the example env files."""
    command = _compose_command()
    if command is None:
        pytest.skip("neither the docker compose plugin nor docker-compose is installed "
                    "(Debian: apt-get install docker-compose)")
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("*.env"))
    for example in (copy / "compose" / "env").glob("*.env.example"):
        example.with_name(example.name.removesuffix(".example")).write_text(
            example.read_text())
    result = subprocess.run([*command, "-f", str(copy / "compose.yaml"), "config"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    assert set(rendered["services"]) == set(SERVICES)
    board = rendered["services"]["board"]["environment"]
    assert board["DATABASE_URL"].endswith("@timescaledb:5432/sunlight")  # from env files


def _compose_command() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True,
                               check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


# --- the Dockerfile ------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")))
    steps = []
    for line in text.splitlines():
        if line.strip():
            instruction, _, args = line.strip().partition(" ")
            steps.append((instruction.upper(), args.strip()))
    return steps


def test_the_dockerfile_builds_the_targets_compose_uses() -> None:
    steps = _dockerfile()
    valid = {"FROM", "ARG", "ENV", "RUN", "COPY", "WORKDIR", "USER", "ENTRYPOINT", "CMD",
             "LABEL", "EXPOSE", "HEALTHCHECK", "VOLUME", "SHELL", "STOPSIGNAL"}
    assert {i for i, _ in steps} <= valid
    stages = [args.split()[-1] for i, args in steps if i == "FROM" and " AS " in args]
    assert stages[-1] == "sunlight", "the default (last) stage is the services' image"
    assert "sunlight-vision" in stages
    for name, service in SERVICES.items():
        if _ours(service):
            assert service["build"]["target"] in stages, name
            assert service["build"]["context"] == ".."
    for instruction, args in steps:
        if instruction == "COPY" and "--from=" not in args:
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), source
        if instruction in ("ENV", "ARG"):
            assert not SECRET_NAME.search(args.split("=")[0]), args
    users = [args for i, args in steps if i == "USER"]
    assert users and users[-1] not in ("root", "0")
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "vision = [" in pyproject and '".[vision]"' in (DEPLOY / "Dockerfile").read_text()


def test_the_build_context_leaves_out_what_the_image_does_not_need() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert "*" in ignore and "!services/" in ignore and "!edge/" in ignore
    copied = [args.split()[0] for i, args in _dockerfile() if i == "COPY"
              and "--from=" not in args]
    for source in copied:
        assert f"!{source}" in ignore or f"!{source}/" in ignore, source


# --- systemd units -------------------------------------------------------------------------

UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def _unit(path: Path) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"{path.name}: {line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: {line!r}"
        current.setdefault(key, []).append(value)
    return sections


def test_the_edge_units_restart_and_are_hardened() -> None:
    assert {u.name for u in UNITS} == {"sunlight-edge.service", "sunlight-edge@.service"}
    for path in UNITS:
        unit = _unit(path)
        service = unit["Service"]
        assert service["Restart"] == ["always"] and service["RestartSec"]
        assert unit["Unit"]["StartLimitIntervalSec"] == ["0"]  # never give up on a gateway
        assert service["NoNewPrivileges"] == ["yes"]
        assert service["ProtectSystem"] == ["strict"]
        assert service["DynamicUser"] == ["yes"]
        assert service["StateDirectory"][0].startswith("sunlight-edge")
        assert service["EnvironmentFile"][0].startswith("/etc/sunlight/")
        assert unit["Install"]["WantedBy"] == ["multi-user.target"]
        (exec_start,) = service["ExecStart"]
        (argv,) = sunlight_argvs_in_text(exec_start)
        assert check_sunlight_argv(argv) == []
        assert argv[1] == "edge"


def test_the_edge_queue_lives_in_the_state_directory() -> None:
    """The agent may write only its StateDirectory: the example gateway config's queue
    must be there, as the units' notes say."""
    example = load_model(EdgeConfig, DEPLOY / "edge.example.yaml")
    state = _unit(DEPLOY / "systemd" / "sunlight-edge.service")["Service"]["StateDirectory"]
    assert str(example.queue.path).startswith(f"/var/lib/{state[0]}/")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    sunlight = shutil.which("sunlight") or str(ROOT / ".venv" / "bin" / "sunlight")
    assert Path(sunlight).exists()
    paths = []
    for path in UNITS:
        # verify wants ExecStart to exist: point it at this checkout's sunlight
        text = path.read_text().replace("/opt/sunlight/bin/sunlight", sunlight)
        name = path.name.replace("@.service", "@test-gateway.service")
        (tmp_path / name).write_text(text)
        paths.append(str(tmp_path / name))
    result = subprocess.run(["systemd-analyze", "verify", *paths], capture_output=True,
                            text=True, timeout=60, check=False)
    # systemd-analyze exits 0 on unknown keys and bad values; it says so on stderr
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


# --- scripts and the operations guide -------------------------------------------------------


def test_the_bootstrap_script_and_the_guide_run_real_sunlight_commands() -> None:
    texts = {
        "bootstrap.sh": (DEPLOY / "compose" / "bootstrap.sh").read_text(),
        "operations.md": "\n".join(_code_blocks(ROOT / "docs" / "operations.md")),
    }
    for name, text in texts.items():
        argvs = sunlight_argvs_in_text(text)
        assert argvs, name
        for argv in argvs:
            assert check_sunlight_argv(argv) == [], name


def _code_blocks(path: Path, languages: tuple[str, ...] = ("sh", "")) -> list[str]:
    """The text of the fenced code blocks in those languages (indented fences too)."""
    blocks: list[str] = []
    current: list[str] | None = None
    keep = False
    for line in path.read_text(encoding="utf-8").splitlines():
        fence = line.strip()
        if fence.startswith("```"):
            if current is None:
                current, keep = [], fence[3:].strip() in languages
            else:
                if keep:
                    blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    assert current is None, f"{path}: an unclosed code block"
    return blocks
