"""The sensor-driver interface of the edge agent, its configuration and its factory.

A driver turns one device into readings: ``read(now)`` returns ``{metric: value}``
(the payload of a Telemetry message), ``close()`` releases what it holds. Three kinds
are configured by ``kind``:

- ``simulator``: realistic, seeded signals for each device kind of the estate config
  (see :mod:`edge.drivers.simulator`);
- ``modbus_tcp`` and ``modbus_rtu``: registers of a Modbus device, decoded with type,
  word order, scale and offset (see :mod:`edge.drivers.modbus`).

A read that fails for a reason outside the agent (device unreachable, timeout,
exception response) raises :class:`SensorReadError`; the agent counts it and retries.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol, Self, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from services.contract.messages import MetricName

__all__ = [
    "DEFAULT_INCIDENT_RATES",
    "DriverConfigError",
    "DriverSpec",
    "ModbusRtuSpec",
    "ModbusTcpSpec",
    "RegisterSpec",
    "SensorDriver",
    "SensorReadError",
    "SimModel",
    "SimulatorSpec",
    "make_driver",
    "parse_driver_spec",
]


class SensorReadError(Exception):
    """A read failed for a reason outside the agent: the agent counts it and retries."""


class DriverConfigError(ValueError):
    """A driver cannot be built from its spec here (e.g. a missing optional library)."""


@runtime_checkable
class SensorDriver(Protocol):
    def read(self, now: datetime) -> dict[str, float]:
        """The readings taken at ``now`` (timezone-aware), metric name to value."""
        ...

    def close(self) -> None:
        """Release connections and handles; the driver is not used afterwards."""
        ...


# --- simulator -------------------------------------------------------------------------


class SimModel(StrEnum):
    """The device kinds of the estate config (cameras excepted)."""

    WATER_LEAK = "water_leak"
    SMOKE = "smoke"
    TEMPERATURE = "temperature"
    DOOR_CONTACT = "door_contact"
    BIN_LEVEL = "bin_level"
    LAMP_CURRENT = "lamp_current"
    ELEVATOR = "elevator"
    AIR_QUALITY = "air_quality"


# Incidents per day and device when the spec gives none: roughly what an estate sees.
DEFAULT_INCIDENT_RATES: dict[SimModel, float] = {
    SimModel.TEMPERATURE: 0.02,  # pump motor overheats about every 50 days
    SimModel.BIN_LEVEL: 0.1,  # a missed cleaning round about every 10 days
    SimModel.WATER_LEAK: 0.02,
    SimModel.SMOKE: 0.005,
    SimModel.DOOR_CONTACT: 0.2,  # a fire door propped open about every 5 days
    SimModel.LAMP_CURRENT: 0.01,
    SimModel.ELEVATOR: 0.02,
    SimModel.AIR_QUALITY: 0.03,
}


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimulatorSpec(_Spec):
    kind: Literal["simulator"]
    model: SimModel
    seed: int | None = None  # None: a fresh random seed (see the driver's `seed`)
    # incidents per simulated day; None: DEFAULT_INCIDENT_RATES[model]
    incident_rate_per_day: Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)] | None = (
        None
    )
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def rate_per_day(self) -> float:
        if self.incident_rate_per_day is None:
            return DEFAULT_INCIDENT_RATES[self.model]
        return self.incident_rate_per_day


# --- Modbus ----------------------------------------------------------------------------

RegisterType = Literal["int16", "uint16", "int32", "uint32", "float32", "coil", "discrete"]
Table = Literal["holding", "input", "coil", "discrete"]
WIDTH: dict[str, int] = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2,
                         "coil": 1, "discrete": 1}
_BIT_TYPES = frozenset({"coil", "discrete"})


class RegisterSpec(_Spec):
    """One metric read from one Modbus register (or pair, or bit).

    value = raw * scale + offset, e.g. an int16 in tenths of a degree: scale 0.1;
    a normally-closed contact read as a coil: scale -1, offset 1.
    """

    metric: MetricName
    address: Annotated[int, Field(ge=0, le=65535)]  # 0-based, as on the wire
    type: RegisterType = "uint16"
    # registers: "holding" (default) or "input"; the coil/discrete types read their own table
    table: Table = "holding"
    scale: Annotated[float, Field(allow_inf_nan=False)] = 1.0
    offset: Annotated[float, Field(allow_inf_nan=False)] = 0.0
    word_order: Literal["big", "little"] = "big"  # of the two words of a 32-bit value

    @model_validator(mode="before")
    @classmethod
    def _bit_table(cls, data: Any) -> Any:
        if isinstance(data, dict) and "table" not in data and data.get("type") in _BIT_TYPES:
            return {**data, "table": data["type"]}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.type in _BIT_TYPES:
            if self.table != self.type:
                raise ValueError(f"type {self.type!r} is read from table {self.type!r}, "
                                 f"not {self.table!r}")
        elif self.table in _BIT_TYPES:
            raise ValueError(f"type {self.type!r} is a register: table must be "
                             f"'holding' or 'input', not {self.table!r}")
        if self.word_order != "big" and self.width != 2:
            raise ValueError(f"word_order applies to 32-bit types only, not {self.type!r}")
        if self.address + self.width - 1 > 65535:
            raise ValueError(f"{self.type} at {self.address} runs past address 65535")
        return self

    @property
    def width(self) -> int:
        return WIDTH[self.type]


def _unique_metrics(registers: list[RegisterSpec]) -> list[RegisterSpec]:
    seen: set[str] = set()
    for reg in registers:
        if reg.metric in seen:
            raise ValueError(f"metric {reg.metric!r} is read from two registers")
        seen.add(reg.metric)
    return registers


Registers = Annotated[list[RegisterSpec], Field(min_length=1, max_length=64)]
Unit = Annotated[int, Field(ge=0, le=255)]
Timeout = Annotated[float, Field(gt=0, le=60)]


class ModbusTcpSpec(_Spec):
    kind: Literal["modbus_tcp"]
    host: Annotated[str, Field(min_length=1, max_length=253)]
    port: Annotated[int, Field(ge=1, le=65535)] = 502
    unit: Unit = 1
    timeout_s: Timeout = 2.0
    registers: Registers

    _unique = field_validator("registers")(_unique_metrics)


class ModbusRtuSpec(_Spec):
    kind: Literal["modbus_rtu"]
    port: Annotated[str, Field(min_length=1)]  # serial device: /dev/ttyUSB0, COM3, …
    baudrate: Annotated[int, Field(gt=0)] = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    unit: Annotated[int, Field(ge=1, le=247)] = 1
    timeout_s: Timeout = 2.0
    registers: Registers

    _unique = field_validator("registers")(_unique_metrics)


DriverSpec = Annotated[SimulatorSpec | ModbusTcpSpec | ModbusRtuSpec, Field(discriminator="kind")]
_SPEC_ADAPTER: TypeAdapter[SimulatorSpec | ModbusTcpSpec | ModbusRtuSpec] = TypeAdapter(DriverSpec)


def parse_driver_spec(data: object) -> SimulatorSpec | ModbusTcpSpec | ModbusRtuSpec:
    """Validate a driver spec (e.g. a mapping loaded from YAML); raises ValidationError."""
    return _SPEC_ADAPTER.validate_python(data)


def make_driver(spec: DriverSpec) -> SensorDriver:
    """Build the driver for ``spec``. Network drivers connect lazily, on the first read."""
    if isinstance(spec, SimulatorSpec):
        from edge.drivers.simulator import SimulatorDriver

        return SimulatorDriver(spec)
    if isinstance(spec, ModbusTcpSpec | ModbusRtuSpec):
        from edge.drivers.modbus import ModbusDriver

        return ModbusDriver(spec)
    raise TypeError(f"not a driver spec: {spec!r}")  # pragma: no cover
