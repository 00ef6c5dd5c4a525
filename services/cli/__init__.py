"""The `sunlight` command: run the stack, manage the database, check configuration.

One module per command group (services/cli/board.py is `sunlight board` …), and what they
share in services/cli/common.py. This package is a composition root: it may import every
service (tests/unit/test_architecture.py).
"""

from __future__ import annotations

import typer

from services.cli import (
    accounts,
    audit,
    board,
    bulletin,
    check,
    db,
    devices,
    edge,
    ingest,
    jobs,
    up,
    vision,
)

__all__ = ["app"]

app = typer.Typer(help="Sunlight (阳光曝光台): estate monitoring, tickets and the weekly bulletin.",
                  no_args_is_help=True)
# commands first, then the groups: the order `sunlight --help` lists them in
app.command("check-config")(check.check_config)
app.command("ingest")(ingest.ingest)
app.command("jobs")(jobs.jobs)
app.command("edge")(edge.edge)
app.command("audit")(audit.audit)
app.command("up")(up.up)
app.add_typer(db.db_app, name="db")
app.add_typer(devices.devices_app, name="devices", help="Per-device MQTT credentials and ACLs.")
app.add_typer(board.board_app, name="board")
app.add_typer(vision.vision_app, name="vision")
app.add_typer(bulletin.bulletin_app, name="bulletin")
app.add_typer(accounts.accounts_app, name="accounts")
