"""Modbus sensors over TCP (``modbus_tcp``) or a serial line (``modbus_rtu``), with pymodbus 3.

Each ``read()`` reads every configured register: registers that sit next to each other
in the same table are fetched with one request (up to 125 registers or 2000 bits),
never across a gap, since a device may refuse addresses it does not have. Values are
decoded big-endian within a word (as Modbus sends them), with the configured word
order for 32-bit values, then ``raw * scale + offset``.

Any failure (cannot connect, timeout, connection dropped, exception response) closes
the connection and raises :class:`SensorReadError`; the next read connects again.
A float32 that is NaN or infinite (a device's "no value") is left out of the readings
and logged; if nothing is left the read fails.

The RTU driver builds pymodbus's serial client (it needs pyserial: ``pip install
pymodbus[serial]``) and is otherwise the same code as TCP.
"""

from __future__ import annotations

import inspect
import logging
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge.drivers.base import (
    DriverConfigError,
    ModbusRtuSpec,
    ModbusTcpSpec,
    RegisterSpec,
    SensorReadError,
)

__all__ = ["ModbusDriver", "decode_registers"]

log = logging.getLogger(__name__)

MAX_REGISTERS = 125  # per read request (Modbus application protocol, FC 3 and 4)
MAX_BITS = 2000  # per read request (FC 1 and 2)
_FORMAT = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}
_FUNCTION = {
    "holding": "read_holding_registers",
    "input": "read_input_registers",
    "coil": "read_coils",
    "discrete": "read_discrete_inputs",
}


def decode_registers(words: list[int], type_: str, word_order: str = "big") -> float:
    """The raw value of a register (or pair) of the given type; bytes big-endian in a word."""
    if word_order == "little":
        words = list(reversed(words))
    raw = b"".join(w.to_bytes(2, "big") for w in words)
    value: float = struct.unpack(_FORMAT[type_], raw)[0]
    if type_ == "float32" and math.isfinite(value):
        # the shortest decimal that is the same float32: 21.7, not 21.700000762939453
        for digits in range(6, 10):
            short = float(f"{value:.{digits}g}")
            if struct.pack(">f", short) == raw:
                return short
    return value


@dataclass(frozen=True)
class _Block:
    """One request: `count` registers or bits of `table` from `address`."""

    table: str
    address: int
    count: int
    registers: tuple[RegisterSpec, ...]

    def describe(self) -> str:
        metrics = ", ".join(r.metric for r in self.registers)
        return f"{self.table} {self.address}..{self.address + self.count - 1} ({metrics})"


def plan_blocks(registers: list[RegisterSpec]) -> list[_Block]:
    """Group registers into as few requests as possible, without reading gaps."""
    blocks: list[_Block] = []
    by_table: dict[str, list[RegisterSpec]] = {}
    for reg in registers:
        by_table.setdefault(reg.table, []).append(reg)
    for table, regs in by_table.items():
        limit = MAX_BITS if table in ("coil", "discrete") else MAX_REGISTERS
        regs.sort(key=lambda r: (r.address, r.width))
        group: list[RegisterSpec] = []
        start = end = 0  # the group spans [start, end)
        for reg in regs:
            reg_end = reg.address + reg.width
            if group and reg.address <= end and max(end, reg_end) - start <= limit:
                group.append(reg)
                end = max(end, reg_end)
                continue
            if group:
                blocks.append(_Block(table, start, end - start, tuple(group)))
            group, start, end = [reg], reg.address, reg_end
        blocks.append(_Block(table, start, end - start, tuple(group)))
    return blocks


def _device_kw(client: Any) -> str:
    """The keyword for the unit id: `device_id` since pymodbus 3.10, `slave` before."""
    params = inspect.signature(client.read_holding_registers).parameters
    for name in ("device_id", "slave", "unit"):
        if name in params:
            return name
    raise DriverConfigError("unsupported pymodbus version: no unit keyword on read requests")


class ModbusDriver:
    """Reads the configured registers of one Modbus device (TCP or RTU)."""

    def __init__(self, spec: ModbusTcpSpec | ModbusRtuSpec) -> None:
        self.spec = spec
        self._blocks = plan_blocks(list(spec.registers))
        self._client = self._make_client(spec)
        self._unit_kw = _device_kw(self._client)
        if isinstance(spec, ModbusTcpSpec):
            self.endpoint = f"modbus_tcp {spec.host}:{spec.port} unit {spec.unit}"
        else:
            self.endpoint = f"modbus_rtu {spec.port} unit {spec.unit}"

    @staticmethod
    def _make_client(spec: ModbusTcpSpec | ModbusRtuSpec) -> Any:
        # retries=0: one attempt per read, the agent counts failures and retries
        if isinstance(spec, ModbusTcpSpec):
            from pymodbus.client import ModbusTcpClient

            return ModbusTcpClient(spec.host, port=spec.port, timeout=spec.timeout_s, retries=0)
        from pymodbus.client import ModbusSerialClient

        try:
            return ModbusSerialClient(
                spec.port,
                baudrate=spec.baudrate,
                parity=spec.parity,
                stopbits=spec.stopbits,
                bytesize=spec.bytesize,
                timeout=spec.timeout_s,
                retries=0,
            )
        except RuntimeError as exc:  # pymodbus without pyserial
            raise DriverConfigError(
                f"modbus_rtu on {spec.port} needs pyserial (pip install 'pymodbus[serial]'): {exc}"
            ) from exc

    @property
    def client(self) -> Any:
        """The pymodbus client (for inspection; the driver owns it)."""
        return self._client

    def read(self, now: datetime) -> dict[str, float]:
        from pymodbus.exceptions import ModbusException

        del now  # a device reports its present values
        try:
            if not self._client.connect():
                raise SensorReadError(f"{self.endpoint}: cannot connect")
            readings: dict[str, float] = {}
            for block in self._blocks:
                readings.update(self._read_block(block))
        except SensorReadError:
            self._client.close()
            raise
        except (ModbusException, OSError) as exc:
            self._client.close()
            raise SensorReadError(f"{self.endpoint}: {type(exc).__name__}: {exc}") from exc
        if not readings:
            raise SensorReadError(f"{self.endpoint}: no finite value in this read")
        return readings

    def _read_block(self, block: _Block) -> dict[str, float]:
        request: Callable[..., Any] = getattr(self._client, _FUNCTION[block.table])
        response = request(block.address, count=block.count,
                           **{self._unit_kw: self.spec.unit})
        if response is None or response.isError():
            raise SensorReadError(f"{self.endpoint}: reading {block.describe()}: {response}")
        bits = block.table in ("coil", "discrete")
        values: list[Any] = list(response.bits if bits else response.registers)
        if len(values) < block.count:
            raise SensorReadError(f"{self.endpoint}: reading {block.describe()}: "
                                  f"{len(values)} values for {block.count}")
        out: dict[str, float] = {}
        for reg in block.registers:
            i = reg.address - block.address
            if bits:
                raw = 1.0 if values[i] else 0.0
            else:
                raw = decode_registers(values[i:i + reg.width], reg.type, reg.word_order)
            value = raw * reg.scale + reg.offset
            if reg.scale != 1.0 or reg.offset != 0.0:
                value = float(f"{value:.12g}")  # 23.4, not 23.400000000000002
            if not math.isfinite(value):
                log.warning("modbus_nonfinite endpoint=%r metric=%s raw=%r",
                            self.endpoint, reg.metric, raw)
                continue
            out[reg.metric] = value
        return out

    def close(self) -> None:
        self._client.close()
