"""Helpers for the deploy-file tests: the `sunlight` command lines a file runs, checked
against the real typer app, and the environment variables the services read."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer
import yaml
from typer.testing import CliRunner

from services.cli import app
from services.config import BoardOptions, SchedulerOptions, Settings

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"

# Shell words that end one command inside a line.
_SHELL_BREAKS = {"&&", "||", "|", ";", ">", ">>", "2>&1", "\\"}


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def sunlight_argvs_in_text(text: str) -> list[list[str]]:
    """Every `sunlight …` command line written in a shell text (a script, a docs block).

    `sunlight` counts as the command where it stands in a command's place: not where it
    is an option's value (`kubectl -n sunlight …`, `psql -U sunlight`)."""
    found = []
    for raw in text.splitlines():
        if raw.lstrip().startswith("#"):
            continue
        tokens = raw.split(" #", 1)[0].split()
        for i, token in enumerate(tokens):
            if not re.fullmatch(r"['\"(]*(?:\S*/)?sunlight", token):
                continue
            if i + 1 == len(tokens) or not re.match(r"[a-z]", tokens[i + 1]):
                continue
            if i > 0 and tokens[i - 1].startswith("-") and tokens[i - 1] != "--":
                continue  # the value of an option
            rest = " ".join(tokens[i + 1:])
            try:
                words = shlex.split(rest)
            except ValueError:  # an unbalanced quote continues on the next line
                words = rest.split()
            argv = ["sunlight"]
            for word in words:
                if word in _SHELL_BREAKS:
                    break
                if word.endswith(";"):
                    argv.append(word[:-1])
                    break
                argv.append(word)
            found.append(argv)
    return found


def _subcommands(command: Any) -> dict[str, Any]:
    return dict(getattr(command, "commands", {}) or {})


def _command_path(argv: list[str]) -> tuple[Any, list[str], list[str]]:
    """The (click) command an argv reaches, the words naming it, and the words after.
    Typer 0.29 vendors click, so groups are told by their `commands`, not their class."""
    command: Any = typer.main.get_command(app)
    names: list[str] = []
    rest = argv[1:]
    while rest and rest[0] in _subcommands(command):
        command = command.commands[rest[0]]
        names.append(rest[0])
        rest = rest[1:]
    return command, names, rest


def check_sunlight_argv(argv: list[str]) -> list[str]:
    """Problems with one `sunlight …` command line: an unknown command, an option the
    command does not have, or --help failing for it."""
    assert argv and Path(argv[0]).name == "sunlight", argv
    command, names, rest = _command_path(argv)
    if not names:
        return [f"{shlex.join(argv)}: no such sunlight command"]
    if _subcommands(command) and not getattr(command, "invoke_without_command", False):
        return [f"{shlex.join(argv)}: `sunlight {' '.join(names)}` needs a subcommand"]
    problems = []
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for word in rest:
        if word.startswith("-") and word not in ("-", "--"):
            option = word.split("=", 1)[0]
            if option not in known:
                problems.append(f"{shlex.join(argv)}: `sunlight {' '.join(names)}` has no"
                                f" option {option}")
    result = CliRunner().invoke(app, [*names, "--help"], terminal_width=200)
    if result.exit_code != 0:
        problems.append(f"sunlight {' '.join(names)} --help exits {result.exit_code}:"
                        f" {result.output}")
    return problems


def option_default(names: list[str], option: str) -> Any:
    """The default of a sunlight command's option, e.g. (["ingest"], "--metrics-port")."""
    command, found, _ = _command_path(["sunlight", *names])
    assert found == names, names
    for param in command.params:
        if option in param.opts:
            return param.default
    raise KeyError(option)


def option_value(argv: list[str], option: str) -> str | None:
    for i, word in enumerate(argv):
        if word == option and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(option + "="):
            return word.split("=", 1)[1]
    return None


def sunlight_env_names() -> set[str]:
    """Every environment variable the services read (Settings, the board's options)."""
    names = set()
    for model in (Settings, BoardOptions):
        for field in model.model_fields.values():
            alias = field.validation_alias
            assert isinstance(alias, str)
            names.add(alias.upper())
    prefix = SchedulerOptions.model_config.get("env_prefix", "")
    names |= {f"{prefix}{name}".upper() for name in SchedulerOptions.model_fields}
    return names


def password_envs(edge_configs: Iterable[Path]) -> set[str]:
    """The password_env names the edge configs read device passwords from."""
    names = set()
    for path in edge_configs:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for item in (*data.get("sensors", ()), *data.get("cameras", ())):
            env = (item.get("credentials") or {}).get("password_env")
            if env:
                names.add(env)
    return names


SECRET_NAME = re.compile(r"PASSWORD|SECRET|COOKIE|TOKEN|_KEY$|^KEY$|_PW_", re.IGNORECASE)
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:([^@\s/]+)@")

PLACEHOLDERS = {"PASSWORD", "change-me", "…"}


def inline_passwords(text: str) -> list[str]:
    """Passwords written into URLs in a text, placeholders (PASSWORD, change-me) aside."""
    return [m.group(1) for m in URL_WITH_PASSWORD.finditer(text)
            if m.group(1) not in PLACEHOLDERS]
