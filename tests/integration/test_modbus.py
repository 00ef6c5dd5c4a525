"""The Modbus driver against pymodbus's own TCP server, on 127.0.0.1 and a free port.

The server runs in a background thread with its own asyncio loop and a datastore of
known values; the test changes values in that datastore, stops the server and starts
it again, and checks what the driver reads each time. The RTU driver is checked for
its configuration only: there is no serial port here.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from edge.drivers import (
    DriverConfigError,
    ModbusRtuSpec,
    ModbusTcpSpec,
    SensorDriver,
    SensorReadError,
    make_driver,
    parse_driver_spec,
)
from edge.drivers.modbus import ModbusDriver, decode_registers, plan_blocks

UNIT = 3
HAS_PYSERIAL = importlib.util.find_spec("serial") is not None


def words(fmt: str, value: float, word_order: str = "big") -> list[int]:
    """Registers holding `value` packed with struct `fmt` (big-endian in each word)."""
    raw = struct.pack(fmt, value)
    regs = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]
    return regs[::-1] if word_order == "little" else regs


# holding 0..5 and 10..13, input 0, coils 0..3, discrete inputs 0..1
HOLDING = (words(">h", -125)  # 0: -12.5 °C in tenths
           + words(">H", 54321)  # 1: above 32767, so unsigned
           + words(">f", 21.7)  # 2-3: float32, high word first
           + words(">f", -3.25, "little"))  # 4-5: float32, low word first
HOLDING_2 = words(">i", -100_000) + words(">I", 3_000_000_000, "little")  # 10-11, 12-13
INPUT = words(">H", 523)  # 0: CO in tenths of ppm, 2 ppm zero offset
COILS = [False, False, False, True]  # 3: pump running
DISCRETE = [False, True]  # 0: a normally-closed contact (read inverted), 1: alarm

REGISTERS: list[dict[str, Any]] = [
    {"metric": "temperature_c", "address": 0, "type": "int16", "scale": 0.1},
    {"metric": "pulses", "address": 1, "type": "uint16"},
    {"metric": "flow_big", "address": 2, "type": "float32"},
    {"metric": "flow_little", "address": 4, "type": "float32", "word_order": "little"},
    {"metric": "energy_signed", "address": 10, "type": "int32"},
    {"metric": "energy_total", "address": 12, "type": "uint32", "word_order": "little"},
    {"metric": "co_ppm", "address": 0, "table": "input", "scale": 0.1, "offset": -2},
    {"metric": "pump_running", "address": 3, "type": "coil"},
    {"metric": "door_closed", "address": 0, "type": "discrete", "scale": -1, "offset": 1},
    {"metric": "alarm", "address": 1, "type": "discrete"},
]
EXPECTED = {
    "temperature_c": -12.5,
    "pulses": 54321.0,
    "flow_big": 21.7,
    "flow_little": -3.25,
    "energy_signed": -100_000.0,
    "energy_total": 3_000_000_000.0,
    "co_ppm": 50.3,
    "pump_running": 1.0,
    "door_closed": 1.0,
    "alarm": 1.0,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerThread:
    """pymodbus's async TCP server on a loop in a background thread."""

    def __init__(self, framer: FramerType = FramerType.SOCKET) -> None:
        self.framer = framer
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.device = SimDevice(UNIT, simdata=(
            [SimData(0, values=COILS, datatype=DataType.BITS)],
            [SimData(0, values=DISCRETE, datatype=DataType.BITS)],
            [SimData(0, values=HOLDING, datatype=DataType.REGISTERS),
             SimData(10, values=HOLDING_2, datatype=DataType.REGISTERS)],
            [SimData(0, values=INPUT, datatype=DataType.REGISTERS)],
        ))
        self.server: ModbusTcpServer | None = None

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def start(self) -> None:
        async def start() -> ModbusTcpServer:
            server = ModbusTcpServer(self.device, address=("127.0.0.1", self.port),
                                     framer=self.framer)
            await server.serve_forever(background=True)
            return server

        self.server = self._run(start())

    def stop(self) -> None:
        if self.server is not None:
            shutdown: Callable[[], Any] = self.server.shutdown  # untyped in pymodbus
            self._run(shutdown())
            self.server = None

    def set(self, func_code: int, address: int, values: list[int] | list[bool]) -> None:
        """Change the datastore (func_code: 5 coils, 6 holding registers)."""
        assert self.server is not None
        self._run(self.server.async_setValues(UNIT, func_code, address, values))

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


@pytest.fixture
def server() -> Iterator[ServerThread]:
    s = ServerThread()
    s.start()
    try:
        yield s
    finally:
        s.close()


def tcp_driver(port: int, registers: list[dict[str, Any]] = REGISTERS) -> ModbusDriver:
    spec = parse_driver_spec({"kind": "modbus_tcp", "host": "127.0.0.1", "port": port,
                              "unit": UNIT, "timeout_s": 1.0, "registers": registers})
    driver = make_driver(spec)
    assert isinstance(driver, ModbusDriver)
    assert isinstance(driver, SensorDriver)
    return driver


def now() -> datetime:
    return datetime.now(UTC)


def test_reads_exactly_the_values_in_the_datastore(server: ServerThread) -> None:
    driver = tcp_driver(server.port)
    try:
        assert driver.read(now()) == EXPECTED
        # contiguous registers of one table come in one request, never across a gap
        assert [(b.table, b.address, b.count) for b in driver._blocks] == [
            ("holding", 0, 6), ("holding", 10, 4), ("input", 0, 1), ("coil", 3, 1),
            ("discrete", 0, 2)]
    finally:
        driver.close()


def test_a_changed_value_is_read_again(server: ServerThread) -> None:
    driver = tcp_driver(server.port)
    try:
        driver.read(now())
        server.set(6, 0, words(">h", -200))  # -20.0 °C
        server.set(6, 2, words(">f", 1e-3))
        server.set(5, 3, [False])
        readings = driver.read(now())
        assert readings["temperature_c"] == -20.0
        assert readings["flow_big"] == 0.001
        assert readings["pump_running"] == 0.0
        assert readings["pulses"] == 54321.0
    finally:
        driver.close()


def test_server_down_raises_and_the_driver_recovers_when_it_is_back(
        server: ServerThread) -> None:
    driver = tcp_driver(server.port)
    try:
        assert driver.read(now()) == EXPECTED
        server.stop()
        # first the open connection breaks, then connecting is refused
        for _ in range(2):
            with pytest.raises(SensorReadError, match=f"127.0.0.1:{server.port}"):
                driver.read(now())
        server.start()
        assert driver.read(now()) == EXPECTED
    finally:
        driver.close()


def test_nothing_listening_is_a_read_error_not_a_crash() -> None:
    driver = tcp_driver(free_port())
    with pytest.raises(SensorReadError, match="cannot connect"):
        driver.read(now())
    driver.close()


def test_an_exception_response_names_the_registers(server: ServerThread) -> None:
    missing = tcp_driver(server.port, [{"metric": "nothing_here", "address": 500}])
    good = tcp_driver(server.port)
    try:
        with pytest.raises(SensorReadError, match=r"holding 500\.\.500 \(nothing_here\)"):
            missing.read(now())
        assert good.read(now()) == EXPECTED
        with pytest.raises(SensorReadError, match="nothing_here"):  # again, not a crash
            missing.read(now())
    finally:
        missing.close()
        good.close()


# --- pure parts: decoding, request planning, specs -------------------------------------


@pytest.mark.parametrize(("type_", "fmt", "value", "order"), [
    ("int16", ">h", -32768, "big"), ("uint16", ">H", 65535, "big"),
    ("int32", ">i", -2_000_000_000, "big"), ("int32", ">i", -2_000_000_000, "little"),
    ("uint32", ">I", 4_000_000_000, "big"), ("uint32", ">I", 4_000_000_000, "little"),
    ("float32", ">f", 0.5, "big"), ("float32", ">f", -1.5e9, "little"),
])
def test_decode_round_trips(type_: str, fmt: str, value: float, order: str) -> None:
    assert decode_registers(words(fmt, value, order), type_, order) == value


def test_requests_are_grouped_within_limits() -> None:
    spec = ModbusTcpSpec.model_validate({"kind": "modbus_tcp", "host": "h", "registers": [
        {"metric": f"m{i}", "address": 2 * i, "type": "float32"} for i in range(64)]})
    blocks = plan_blocks(list(spec.registers))
    assert [(b.address, b.count) for b in blocks] == [(0, 124), (124, 4)]


@pytest.mark.parametrize(("registers", "message"), [
    ([{"metric": "a", "address": 0, "type": "coil", "table": "holding"}], "read from table"),
    ([{"metric": "a", "address": 0, "type": "int16", "table": "coil"}], "is a register"),
    ([{"metric": "a", "address": 0, "type": "int16", "word_order": "little"}], "32-bit"),
    ([{"metric": "a", "address": 65535, "type": "float32"}], "past address 65535"),
    ([{"metric": "a", "address": 0}, {"metric": "a", "address": 1}], "two registers"),
    ([{"metric": "Bad-Name", "address": 0}], "pattern"),
    ([], "at least 1"),
])
def test_bad_register_specs_are_refused(registers: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_driver_spec({"kind": "modbus_tcp", "host": "10.0.0.5", "registers": registers})


def test_tcp_spec_defaults() -> None:
    spec = parse_driver_spec({"kind": "modbus_tcp", "host": "10.0.0.5",
                              "registers": [{"metric": "leak", "address": 7, "type": "discrete"}]})
    assert isinstance(spec, ModbusTcpSpec)
    assert (spec.port, spec.unit, spec.timeout_s) == (502, 1, 2.0)
    reg = spec.registers[0]
    assert (reg.table, reg.scale, reg.offset, reg.word_order) == ("discrete", 1.0, 0.0, "big")


# --- RTU: no serial port here ----------------------------------------------------------

RTU = {"kind": "modbus_rtu", "port": "/dev/ttyUSB0", "baudrate": 19200, "parity": "E",
       "unit": 7, "registers": [{"metric": "temperature_c", "address": 0, "type": "int16",
                                 "scale": 0.1}]}


def test_rtu_spec_is_validated() -> None:
    spec = parse_driver_spec(RTU)
    assert isinstance(spec, ModbusRtuSpec)
    assert (spec.stopbits, spec.bytesize, spec.timeout_s) == (1, 8, 2.0)
    for bad in ({"parity": "X"}, {"unit": 0}, {"stopbits": 3}, {"host": "10.0.0.5"}):
        with pytest.raises(ValidationError):
            parse_driver_spec({**RTU, **bad})


@pytest.mark.skipif(HAS_PYSERIAL, reason="pyserial is installed")
def test_rtu_without_pyserial_is_a_clear_config_error() -> None:
    with pytest.raises(DriverConfigError, match="pyserial"):
        make_driver(parse_driver_spec(RTU))


@pytest.mark.skipif(not HAS_PYSERIAL, reason="pymodbus's serial client needs pyserial")
def test_rtu_client_is_configured_from_the_spec() -> None:
    driver = make_driver(parse_driver_spec(RTU))
    assert isinstance(driver, ModbusDriver)
    params = driver.client.comm_params
    assert (params.host, params.baudrate, params.parity, params.stopbits, params.bytesize) == (
        "/dev/ttyUSB0", 19200, "E", 1, 8)
    assert params.timeout_connect == 2.0
    assert driver.endpoint == "modbus_rtu /dev/ttyUSB0 unit 7"
    driver.close()


@pytest.mark.skipif(not HAS_PYSERIAL, reason="pymodbus's serial client needs pyserial")
def test_rtu_frames_through_pyserial_socket_url() -> None:
    """RTU framing (CRC, unit id) end to end, the serial line replaced by pyserial's
    socket:// URL and pymodbus's server speaking RTU over TCP."""
    rtu_server = ServerThread(FramerType.RTU)
    rtu_server.start()
    try:
        spec = parse_driver_spec({**RTU, "port": f"socket://127.0.0.1:{rtu_server.port}",
                                  "unit": UNIT, "timeout_s": 1.0, "registers": REGISTERS})
        driver = make_driver(spec)
        try:
            assert driver.read(now()) == EXPECTED
            rtu_server.stop()
            with pytest.raises(SensorReadError, match="modbus_rtu socket://"):
                driver.read(now())
        finally:
            driver.close()
    finally:
        rtu_server.close()
