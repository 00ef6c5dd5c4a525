"""Sensor drivers of the edge agent: one small interface, built from a spec.

    spec = parse_driver_spec({"kind": "simulator", "model": "bin_level", "seed": 1})
    driver = make_driver(spec)
    readings = driver.read(datetime.now(UTC))   # {"fill_pct": 42.0}
    driver.close()
"""

from edge.drivers.base import (
    DEFAULT_INCIDENT_RATES,
    DriverConfigError,
    DriverSpec,
    ModbusRtuSpec,
    ModbusTcpSpec,
    RegisterSpec,
    SensorDriver,
    SensorReadError,
    SimModel,
    SimulatorSpec,
    make_driver,
    parse_driver_spec,
)

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
