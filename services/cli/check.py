"""`sunlight check-config`: validate an estate YAML file."""

from __future__ import annotations

from pathlib import Path

from services.cli.common import (
    console,
    load_estate,
)


def check_config(file: Path) -> None:
    """Validate an estate YAML file; errors name the file and line."""
    estate = load_estate(file)
    console.print(
        f"[green]ok[/green] {file}: site {estate.site.id} ({estate.site.name}),"
        f" {len(estate.buildings)} buildings, {len(estate.departments)} departments,"
        f" {len(estate.categories)} categories, {len(estate.devices)} devices,"
        f" {len(estate.cameras)} cameras, {len(estate.sensor_rules)} sensor rules",
        highlight=False,
    )
