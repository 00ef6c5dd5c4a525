"""The ticket domain stays pure: no broker, web, vision, database, network or process imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import services.tickets

DOMAIN = Path(services.tickets.__file__).parent
FORBIDDEN = frozenset(
    {
        "paho",
        "fastapi",
        "starlette",
        "cv2",
        "ultralytics",
        "psycopg",
        "psycopg_pool",
        "sqlalchemy",
        "requests",
        "httpx",
        "socket",
        "subprocess",
    }
)
SOURCES = sorted(DOMAIN.rglob("*.py"))


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Every module an import statement names, with its line, including `__import__("x")`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
            in ("__import__", "import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def forbidden_in(source: str) -> list[str]:
    return [
        f"line {line}: {name}"
        for line, name in imported_modules(ast.parse(source))
        if name.split(".")[0] in FORBIDDEN
    ]


def test_domain_has_sources() -> None:
    names = {p.name for p in SOURCES}
    assert {"model.py", "states.py", "lifecycle.py", "sla.py", "duplicates.py",
            "oracle.py"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(DOMAIN)))
def test_module_imports_nothing_impure(path: Path) -> None:
    assert forbidden_in(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "import socket",
        "import paho.mqtt.client as mqtt",
        "from psycopg_pool import ConnectionPool",
        "from fastapi import FastAPI",
        "def f():\n    import subprocess\n",
        "try:\n    import cv2\nexcept ImportError:\n    cv2 = None\n",
        "from starlette.requests import Request",
        "import os, httpx",
        "x = __import__('requests')",
        "import importlib\nm = importlib.import_module('ultralytics')",
        "if False:\n    from sqlalchemy import select\n",
    ],
)
def test_checker_catches_forbidden_imports(source: str) -> None:
    assert forbidden_in(source)


@pytest.mark.parametrize(
    "source",
    [
        "from services.tickets.model import State",
        "from . import model",
        "import dataclasses, datetime, enum",
        "import socketserver_like_name_but_ours as x",
        "from requests_toolbelt_local import y",
    ],
)
def test_checker_allows_pure_imports(source: str) -> None:
    assert forbidden_in(source) == []
