"""Secrets come from the environment only: nothing committed holds a password, key or
token (the examples hold placeholders, which the settings refuse), and each secret setting
can be read from NAME_FILE (Docker and Kubernetes secrets mounted as files).

The scan reads every committed file but tests/ and bench/ (their throwaway credentials for
throwaway databases are deliberate)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.config import BoardOptions, Settings
from services.config.settings import PLACEHOLDER_SECRETS, SECRET_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = ("tests/", "bench/")
CONFIG_SUFFIXES = (".yaml", ".yml", ".conf", ".example", ".sh", ".service", ".toml", ".md",
                   ".json", ".env")
CONFIG_NAMES = ("Dockerfile", "Makefile", "run")

PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^@\s/'\"]+)@")
QUERY_SECRET = re.compile(r"[?&](?:token|key|secret|sig|signature|password)=([^&\s'\"#]+)",
                          re.IGNORECASE)
SECRET_KEY = (r"[A-Za-z0-9_.-]*(?:password|passwd|secret|token|api[_-]?key|private[_-]?key"
              r"|_key|cookie)")
# KEY: value, KEY=value, KEY = value, --from-literal=key=value
ASSIGNMENT = re.compile(rf"(?:^|\s|--from-literal=)({SECRET_KEY})\s*[:=]\s*(\S[^#\n]*)",
                        re.IGNORECASE | re.MULTILINE)


def _committed() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                                check=True, timeout=30).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in listed
            if not name.startswith(SKIPPED) and (ROOT / name).is_file()]


FILES = _committed()


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def placeholder(value: str) -> bool:
    """Whether a value stands in for a secret rather than being one."""
    words = value.strip().split()
    value = words[0].strip("'\"").rstrip(",;.'\")") if words else ""
    return (not value or value in PLACEHOLDER_SECRETS or value == "pass"  # user:pass@
            or re.fullmatch(r"[A-Z][A-Z0-9_-]*", value) is not None  # PASSWORD, DB_PASSWORD
            or value.startswith(("$", "{", "[", "<", "/", "…", "***", "%"))  # refs, paths
            or value in ("None", "null", "~", "true", "false"))


def literal_secrets(text: str, *, config: bool) -> list[str]:
    found = [m.group(0) for m in PRIVATE_KEY.finditer(text)]
    found += [m.group(0) for m in URL_PASSWORD.finditer(text) if not placeholder(m.group(1))]
    found += [m.group(0) for m in QUERY_SECRET.finditer(text) if not placeholder(m.group(1))]
    if config:
        for m in ASSIGNMENT.finditer(text):
            value = m.group(2).strip()
            if not placeholder(value) and not value.startswith("(") \
                    and not _names_a_source(m.group(1), value):
                found.append(m.group(0).strip())
    return found


def _names_a_source(key: str, value: str) -> bool:
    """`password_env: NAME`, `secretName: x`, `password_file /path`: where a secret comes
    from, not the secret."""
    # `Secret: sunlight-mqtt` names a Kubernetes Secret; `password_env: NAME` a variable
    return key.lower() in ("secret", "secrets") or \
        key.lower().endswith(("_env", "name", "_file", "ref"))


def test_the_scan_catches_what_it_is_for() -> None:
    """The scan itself, on secrets of every kind it looks for."""
    for leak in ("DATABASE_URL=postgresql://sunlight:hunter2@db/sunlight",
                 "  password: s3cr3t-value", "SUNLIGHT_SECRET_KEY=abc123def",
                 "webhook: https://hooks.example/x?token=9f8e7d",
                 "-----BEGIN RSA PRIVATE KEY-----", "POSTGRES_PASSWORD=changeme",
                 "kubectl create secret generic x --from-literal=db-password=hunter2"):
        assert literal_secrets(leak, config=True), leak
    for fine in ("DATABASE_URL=postgresql://sunlight:change-me@db/sunlight",
                 "  password: PASSWORD", "SUNLIGHT_SECRET_KEY=change-me",
                 "webhook: https://hooks.example/x?token=CHANGE-ME",
                 "credentials: {password_env: SUNLIGHT_PW_CAM}", "password=$(secret)",
                 "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}", "password_file /etc/passwd",
                 "--from-literal=postgres-password=DB_PASSWORD"):
        assert literal_secrets(fine, config=True) == [], fine


def test_no_secret_is_committed() -> None:
    leaks = []
    for path in FILES:
        text = _text(path)
        if text is None:
            continue
        config = path.suffix in CONFIG_SUFFIXES or path.name in CONFIG_NAMES
        leaks += [f"{path.relative_to(ROOT)}: {found}"
                  for found in literal_secrets(text, config=config)]
    assert leaks == []
    assert any(p.name == "compose.yaml" for p in FILES) and len(FILES) > 100  # scanned it all


def _walk(node: Any, where: str) -> list[str]:
    """Mappings whose key names a secret and whose value is written out."""
    found = []
    if isinstance(node, dict):
        name = str(node.get("name", ""))
        if "value" in node and re.fullmatch(SECRET_KEY + r"[A-Za-z0-9_]*", name, re.I) \
                and not placeholder(str(node["value"])):
            found.append(f"{where}: env {name} is written out; use valueFrom")
        for key, value in node.items():
            if isinstance(value, str | int) and re.fullmatch(SECRET_KEY, str(key), re.I) \
                    and not placeholder(str(value)):
                found.append(f"{where}: {key}")
            found += _walk(value, where)
    elif isinstance(node, list):
        for item in node:
            found += _walk(item, where)
    return found


def test_no_yaml_file_writes_out_a_secret() -> None:
    leaks = []
    for path in FILES:
        if path.suffix in (".yaml", ".yml"):
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                leaks += _walk(doc, str(path.relative_to(ROOT)))
    assert leaks == []


def test_the_settings_have_no_secret_defaults() -> None:
    for model in (Settings, BoardOptions):
        for field in model.model_fields.values():
            alias = str(field.validation_alias)
            if re.search(r"PASSWORD|SECRET|TOKEN|_KEY$|_URL$", alias):
                assert field.default is None, f"{alias} has a default"
                assert field.repr is False, f"{alias} would show in logs"
    assert set(SECRET_SETTINGS) == {"DATABASE_URL", "MQTT_URL", "SUNLIGHT_SECRET_KEY"}


def test_secrets_are_read_from_files_named_in_the_environment(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in SECRET_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "db").write_text("postgresql://sunlight:from-a-file@db/sunlight\n")
    (tmp_path / "key").write_text("k3y-from-a-file")
    monkeypatch.setenv("DATABASE_URL_FILE", str(tmp_path / "db"))
    monkeypatch.setenv("SUNLIGHT_SECRET_KEY_FILE", str(tmp_path / "key"))
    settings = Settings()
    assert settings.database_url == "postgresql://sunlight:from-a-file@db/sunlight"
    assert settings.secret_key == "k3y-from-a-file" and settings.mqtt_url is None
    assert "from-a-file" not in repr(settings)
    monkeypatch.setenv("DATABASE_URL", "postgresql://other@db/sunlight")
    with pytest.raises(ValueError, match="both DATABASE_URL and DATABASE_URL_FILE"):
        Settings()
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("DATABASE_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="DATABASE_URL_FILE"):
        Settings()


@pytest.mark.parametrize(("name", "value"), [
    ("DATABASE_URL", "postgresql://sunlight:change-me@timescaledb:5432/sunlight"),
    ("MQTT_URL", "mqtt://sunlight-board:change-me@mosquitto:1883"),
    ("SUNLIGHT_SECRET_KEY", "change-me"),
])
def test_an_examples_placeholder_is_refused(monkeypatch: pytest.MonkeyPatch, name: str,
                                            value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="placeholder"):
        Settings()
