"""`sunlight edge`: the edge agent of one gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.cli.common import (
    console,
    log,
    read_settings,
)
from services.config import ConfigError
from services.runtime import stop_event


def edge(config: Annotated[Path, typer.Argument(help="The gateway's YAML.")]) -> None:
    """The edge agent: sensors and cameras of one gateway → MQTT, with store-and-forward."""
    from edge.agent import Agent
    from edge.config import EdgeConfig
    from edge.settings import load_edge_settings
    from services.config import load_model

    settings = read_settings()
    try:
        edge_config = load_model(EdgeConfig, config)
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from None
    stop = stop_event()
    Agent(edge_config, load_edge_settings(edge_config), base_dir=config.parent).run(stop)
    log.info("event=edge_stopped data_dir=%s", settings.data_dir)
