"""`sunlight devices`: per-device broker credentials and the Mosquitto files made from them.

    sunlight devices add leak-pump-room          # prints the new password once
    sunlight devices add leak-pump-room --rotate # a new password; the old one stops working
    sunlight devices list
    sunlight devices revoke leak-pump-room
    sunlight devices service ingest              # sunlight-ingest's password (new or rotated)
    sunlight devices write-files --dir /etc/mosquitto/sunlight \\
        --reload-pid /run/mosquitto/mosquitto.pid --group mosquitto

The database keeps only hashes. `add`, `revoke` and `service` rewrite the password and
ACL files (`--dir`, default `<data_dir>/mosquitto/`) after their change commits, and
with `--reload-pid` send Mosquitto SIGHUP so it rereads them: Mosquitto reads both files
only at start and on SIGHUP.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import psycopg
import typer
from rich.table import Table

from services.cli.common import ConfigOption, errors, load_estate, read_settings
from services.cli.common import plain as console
from services.config import DeviceKind, EstateConfig, Settings
from services.devices.broker_auth import (
    Account,
    AccountError,
    BrokerFiles,
    ReloadError,
    Role,
    generate_password,
    hash_password,
    reload_mosquitto,
    service_username,
    write_broker_files,
)
from services.store import devices as store
from services.store import migrate

devices_app = typer.Typer(
    help="Per-device MQTT credentials and the broker's password and ACL files.",
    no_args_is_help=True,
)
DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="Where to write passwd and acl (default <data_dir>/mosquitto)."),
]
ReloadOption = Annotated[
    Path | None,
    typer.Option("--reload-pid", help="Mosquitto's pid file: send it SIGHUP to reload."),
]
GroupOption = Annotated[
    str | None,
    typer.Option("--group", help="Group Mosquitto runs as: files get it, mode 0640."),
]


# --- plumbing -------------------------------------------------------------------------


def _fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[red]{message}[/red]")
    return typer.Exit(code)


@contextmanager
def _connect(settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    if not settings.database_url:
        raise _fail("DATABASE_URL is not set", 2)
    migrate.upgrade(settings.database_url)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        yield conn


def _account(credential: store.Credential) -> Account:
    return Account(
        username=credential.device_id,
        site=credential.site,
        role=Role(credential.role),
        password_hash=credential.password_hash,
    )


def _write_files(
    conn: psycopg.Connection[Any],
    settings: Settings,
    directory: Path | None,
    reload_pid: Path | None,
    group: str | None,
) -> BrokerFiles:
    """Render the files from the committed state, under the lock, then reload."""
    target = directory if directory is not None else settings.data_dir / "mosquitto"
    try:
        with conn.transaction():
            store.lock_broker_files(conn)
            accounts = [_account(c) for c in store.active_credentials(conn)]
            written = write_broker_files(target, accounts, group=group)
    except (OSError, KeyError) as exc:  # KeyError: no such --group
        raise _fail(
            f"the database is up to date, but the broker files in {target} were not written:"
            f" {exc}; fix that and run `sunlight devices write-files`"
        ) from None
    console.print(
        f"wrote {written.password_file} and {written.acl_file}"
        f" ({written.accounts} account{'' if written.accounts == 1 else 's'})"
    )
    if reload_pid is None:
        console.print(
            "[yellow]Mosquitto rereads them only on SIGHUP:[/yellow] pass --reload-pid,"
            " or run `kill -HUP $(cat /run/mosquitto/mosquitto.pid)`"
        )
    else:
        try:
            pid = reload_mosquitto(reload_pid)
        except ReloadError as exc:
            raise _fail(f"files written, but Mosquitto was not reloaded: {exc}") from None
        console.print(f"sent SIGHUP to mosquitto (pid {pid}): it rereads both files")
    return written


def _show_password(username: str, password: str, what: str) -> None:
    console.print(what)
    # typer.echo, not rich: the secret must come out exactly as generated.
    typer.echo(f"  username: {username}")
    typer.echo(f"  password: {password}")
    console.print(
        "[bold]The password is shown only this once[/bold]: the database keeps its hash."
        " Put it in the device's configuration now (`--rotate` makes a new one)."
    )


def _unknown_device(device_id: str, estate: EstateConfig) -> str:
    known = sorted(estate.device_ids)
    close = difflib.get_close_matches(device_id, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return (
        f"unknown device '{device_id}': it is not under `devices` or `cameras`"
        f" in the estate config{hint}"
    )


def _local(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at is not None else ""


# --- commands -------------------------------------------------------------------------


@devices_app.command("add")
def add(
    device_id: Annotated[str, typer.Argument(help="A device or camera id from the estate.")],
    *,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Replace an existing password (or a revoked one).")
    ] = False,
    config: ConfigOption = None,
    directory: DirOption = None,
    reload_pid: ReloadOption = None,
    group: GroupOption = None,
) -> None:
    """Create a device's broker password (printed once) and rewrite the broker files."""
    settings = read_settings(config, configure_logs=False)
    estate = load_estate(settings.config_path, errors)
    if device_id not in estate.device_ids:
        raise _fail(_unknown_device(device_id, estate), 2)
    kind = estate.device_kind(device_id)
    role = Role.CAMERA if kind is DeviceKind.CAMERA else Role.DEVICE
    password = generate_password()
    try:
        # Validates the id as a username before anything is stored.
        account = Account(device_id, estate.site.id, role, hash_password(password))
    except AccountError as exc:
        raise _fail(str(exc), 2) from None
    with _connect(settings) as conn:
        try:
            with conn.transaction():
                stored = store.add_credential(
                    conn,
                    device_id=account.username,
                    site=account.site,
                    role=role.value,
                    password_hash=account.password_hash,
                    rotate=rotate,
                )
        except store.CredentialExistsError as exc:
            raise _fail(f"{exc}; use --rotate to replace its password") from None
        except store.OtherEstateError as exc:
            raise _fail(f"{exc}. Give the device another id in this estate's config.") \
                from None
        verb = "Rotated" if stored.rotated_at is not None else "Created"
        _show_password(
            device_id, password,
            f"{verb} credentials for {device_id} ({kind}) on site {estate.site.id}.",
        )
        _write_files(conn, settings, directory, reload_pid, group)


@devices_app.command("list")
def list_devices(
    config: ConfigOption = None,
    active: Annotated[bool, typer.Option("--active", help="Leave out revoked accounts.")] =
    False,
) -> None:
    """List broker accounts: id, kind, location, created, rotated, revoked."""
    settings = read_settings(config, configure_logs=False)
    estate = load_estate(settings.config_path, errors)
    tz = estate.site.tz
    with _connect(settings) as conn:
        credentials = store.list_credentials(conn, include_revoked=not active)
    table = Table(title=f"Broker accounts ({tz.key} time)")
    # Ids are never shortened with "…" in a narrow terminal: they are folded instead.
    table.add_column("id", overflow="fold")
    table.add_column("kind", overflow="fold")
    for column in ("location", "site", "created", "rotated", "revoked"):
        table.add_column(column)
    for c in credentials:
        if c.role == "service":
            kind, location = "service", ""
        elif c.device_id in estate.device_ids:
            kind = str(estate.device_kind(c.device_id))
            location = estate.location_label(estate.device_location(c.device_id))
        else:
            kind, location = f"{c.role} (not in config)", ""
        revoked = _local(c.revoked_at, tz)
        table.add_row(
            c.device_id, kind, location, c.site, _local(c.created_at, tz),
            _local(c.rotated_at, tz), f"[red]{revoked}[/red]" if revoked else "",
        )
    console.print(table)
    revoked_count = sum(1 for c in credentials if not c.active)
    console.print(f"{len(credentials)} accounts, {revoked_count} revoked")


@devices_app.command("revoke")
def revoke(
    device_id: Annotated[str, typer.Argument(help="The account to shut out.")],
    config: ConfigOption = None,
    directory: DirOption = None,
    reload_pid: ReloadOption = None,
    group: GroupOption = None,
) -> None:
    """Revoke an account (it stays listed) and rewrite the broker files without it."""
    settings = read_settings(config, configure_logs=False)
    site = load_estate(settings.config_path, errors).site.id
    with _connect(settings) as conn:
        try:
            with conn.transaction():
                credential = store.revoke_credential(conn, device_id, site)
        except (store.CredentialNotFoundError, store.OtherEstateError) as exc:
            raise _fail(str(exc)) from None
        console.print(f"revoked {device_id} at {credential.revoked_at:%Y-%m-%d %H:%M:%S %Z}")
        _write_files(conn, settings, directory, reload_pid, group)
        if reload_pid is None:
            console.print(f"{device_id} can log in until Mosquitto is reloaded")


@devices_app.command("service")
def service(
    name: Annotated[str, typer.Argument(help="ingest, vision or board (or sunlight-ingest …)")],
    *,
    login: Annotated[str | None, typer.Option(
        "--name", help="The login, sunlight-<service>-<name>: a second estate's on a shared"
        " broker (default sunlight-<service>).")] = None,
    config: ConfigOption = None,
    directory: DirOption = None,
    reload_pid: ReloadOption = None,
    group: GroupOption = None,
) -> None:
    """Create or rotate a service account's password (printed once); rewrite the files."""
    try:
        username = service_username(name, login)
    except AccountError as exc:
        raise _fail(str(exc), 2) from None
    settings = read_settings(config, configure_logs=False)
    estate = load_estate(settings.config_path, errors)
    password = generate_password()
    account = Account(username, estate.site.id, Role.SERVICE, hash_password(password))
    with _connect(settings) as conn:
        try:
            with conn.transaction():
                stored = store.add_credential(
                    conn,
                    device_id=account.username,
                    site=account.site,
                    role="service",
                    password_hash=account.password_hash,
                    rotate=True,
                )
        except store.OtherEstateError as exc:
            raise _fail(
                f"{exc}. Give this estate's {service_username(name)} a login of its own:"
                f" `sunlight devices service {name} --name"
                f" {service_username(name)}-{estate.site.id}`"
            ) from None
        verb = "Rotated" if stored.rotated_at is not None else "Created"
        _show_password(username, password, f"{verb} the service account {username}.")
        _write_files(conn, settings, directory, reload_pid, group)


@devices_app.command("write-files")
def write_files(
    directory: DirOption = None,
    reload_pid: ReloadOption = None,
    group: GroupOption = None,
) -> None:
    """Render passwd and acl from the database (revoked accounts left out)."""
    settings = Settings()
    with _connect(settings) as conn:
        _write_files(conn, settings, directory, reload_pid, group)
