"""The shipped Mosquitto configs (deploy/mosquitto/*.conf) running in the real mosquitto.

Only the lines naming ports, paths, the user and the log destination are rewritten; every
other directive is the shipped one. Certificates come from deploy/compose/make-certs.sh,
the password and ACL files from `write_broker_files`."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from services.devices.broker_auth import Account, Role, hash_password, write_broker_files
from services.stack import find_mosquitto
from tests.support.deploy import DEPLOY

CONFIGS = [DEPLOY / "mosquitto" / "mosquitto.conf", DEPLOY / "mosquitto" / "compose.conf"]
SITE = "yangguang-garden"
REWRITTEN = {"listener", "cafile", "certfile", "keyfile", "password_file", "acl_file",
             "pid_file", "persistence_location", "log_dest", "user"}
DEFAULT_PASSWORDS = {"leak-pump-room": "device-secret-1", "cam-b3-stairwell": "device-secret-2",
                     "sunlight-board": "board-secret-1", "sunlight-ingest": "ingest-secret-1"}


def directives(path: Path) -> list[tuple[str, str]]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [(d, rest.strip()) for d, _, rest in
            (line.partition(" ") for line in lines if line and not line.startswith("#"))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ShippedBroker:
    plain: int  # the services' listener (localhost / the compose network)
    tls: int  # the devices' listener
    ca: Path
    passwords: dict[str, str]
    log: Path
    home: Path
    accounts: list[Account] = field(default_factory=list)

    def __getitem__(self, key: str) -> object:  # the dict-style access of older tests
        return {"plain": self.plain, "tls": self.tls, "ca": self.ca,
                "passwords": self.passwords, "log": self.log}[key]


def _role(name: str) -> Role:
    if name.startswith("sunlight-"):
        return Role.SERVICE
    return Role.CAMERA if name.startswith("cam-") else Role.DEVICE


@contextmanager
def shipped_broker(conf: Path, home: Path, passwords: dict[str, str] | None = None, *,
                   site: str = SITE, accounts: Sequence[Account] = ()) \
        -> Iterator[ShippedBroker]:
    """The config, ports and paths rewritten, running. `passwords`: username -> password
    of the accounts of `site` (services by their sunlight- prefix, cameras by cam-);
    `accounts`: more accounts as they are (e.g. another estate's)."""
    certs = home / "certs"
    certs.mkdir(parents=True)
    subprocess.run(["sh", str(DEPLOY / "compose" / "make-certs.sh"), str(certs)],
                   env={**os.environ, "SUNLIGHT_BROKER_HOST": "localhost"}, check=True,
                   capture_output=True, timeout=120)
    auth = home / "auth"
    passwords = dict(DEFAULT_PASSWORDS if passwords is None else passwords)
    all_accounts = [Account(name, site, _role(name), hash_password(password))
                    for name, password in passwords.items()] + list(accounts)
    write_broker_files(auth, all_accounts)
    plain, tls = free_port(), free_port()
    listeners = iter((plain, tls))
    replacements = {
        "cafile": str(certs / "ca.crt"), "certfile": str(certs / "server.crt"),
        "keyfile": str(certs / "server.key"), "password_file": str(auth / "passwd"),
        "acl_file": str(auth / "acl"), "pid_file": str(home / "mosquitto.pid"),
        "persistence_location": f"{home}/", "log_dest": "stderr",
    }
    out = []
    for directive, value in directives(conf):
        if directive == "listener":
            out.append(f"listener {next(listeners)} 127.0.0.1")
        elif directive == "user":
            # root stays root to read root's files; others cannot switch users anyway
            out.append("user root" if os.geteuid() == 0 else f"# user {value}")
        elif directive in replacements:
            out.append(f"{directive} {replacements[directive]}")
        else:
            out.append(f"{directive} {value}")
    if "pid_file" not in dict(directives(conf)):
        out.append(f"pid_file {home / 'mosquitto.pid'}")
    assert {d for d, _ in directives(conf)} & REWRITTEN <= REWRITTEN
    local = home / "mosquitto.conf"
    local.write_text("\n".join(out) + "\n")
    log = home / "mosquitto.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([str(find_mosquitto()), "-c", str(local)], stdout=sink,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while " running" not in log.read_text(errors="replace"):
            assert proc.poll() is None, f"mosquitto refused {conf.name}:\n{log.read_text()}"
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield ShippedBroker(plain=plain, tls=tls, ca=certs / "ca.crt", passwords=passwords,
                            log=log, home=home, accounts=all_accounts)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = log.read_text(errors="replace")
    assert "Error" not in text, text
