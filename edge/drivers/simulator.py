"""Simulated sensors: realistic daily patterns and seeded incidents for every device kind.

Each reading is a pure function of (seed, model, incident rate, time zone, ``now``):
there is no hidden state between reads, so the simulator is deterministic whatever
the order or spacing of the calls, and works with simulated time (reads far apart,
out of order or accelerated a thousandfold). Randomness comes from a counter-based
hash (splitmix64) of the seed and the time, never from a shared generator.

Incidents (the conditions the estate's sensor rules look for) start as a Poisson
process with ``incident_rate_per_day`` starts per simulated day and device; a new one
does not start while one is on. They are drawn per time slot from the seed, so a demo
with ``incident_rate_per_day: 200`` shows one within minutes.

Models (metric: normal pattern; incident):

- temperature (temperature_c): a daily curve, coolest at 05:00 and warmest at 15:00
  local time, ±4 °C around 24 °C, day-to-day weather drift, ±0.15 °C noise; the pump
  motor overheats: above 60 °C (peak 63–75 °C) for 10–20 min.
- bin_level (fill_pct): fills fastest at meal times, emptied by the cleaners' rounds
  at 07:30, 13:00 and 19:30 local time; a round is missed: the bin passes 90 % and
  stays full until a round is done.
- water_leak (leak): 0; 1 for 5 min – 6 h.
- smoke (smoke): 0; 1 for 1–20 min.
- door_contact (door_open): 1 for 3–15 s as people pass (busier at rush hours); the
  fire door is held open for 6–60 min.
- lamp_current (lamp_current_a): ≈0.45 A with noise from 18:55 to 06:05, 0 by day;
  the lamp fails (0 at night too) for 6 h – 3 days.
- elevator (fault): 0; 1 for 5 min – 4 h.
- air_quality (co_ppm): ≈3 ppm with rush-hour bumps (≈08:00 and 18:30) to ≈20–25 ppm,
  less at weekends; above 50 ppm (peak 60–150 ppm) for 15–45 min.

For ``bin_level`` an incident is a missed round: each round is missed with
probability ``1 - exp(-rate / 3)`` (three rounds a day), so at very high rates every
round is missed and the bin stays full.
"""

from __future__ import annotations

import math
import random
import secrets
from bisect import bisect_right
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from edge.drivers.base import SimModel, SimulatorSpec

__all__ = ["METRICS", "SimulatorDriver"]

METRICS: dict[SimModel, str] = {
    SimModel.TEMPERATURE: "temperature_c",
    SimModel.BIN_LEVEL: "fill_pct",
    SimModel.WATER_LEAK: "leak",
    SimModel.SMOKE: "smoke",
    SimModel.DOOR_CONTACT: "door_open",
    SimModel.LAMP_CURRENT: "lamp_current_a",
    SimModel.ELEVATOR: "fault",
    SimModel.AIR_QUALITY: "co_ppm",
}

DAY = 86_400.0
HOUR = 3_600.0
MINUTE = 60.0

# --- counter-based randomness ----------------------------------------------------------

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _fmix(z: int) -> int:
    """splitmix64's finaliser: a bijective, well-mixed 64-bit hash."""
    z = (z + _GOLDEN) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


class _Stream:
    """Independent uniforms and normals indexed by an integer (a minute, a round, …)."""

    __slots__ = ("_key",)

    def __init__(self, key: int, tag: int) -> None:
        self._key = _fmix(key ^ _fmix(tag))

    def bits(self, n: int, sub: int = 0) -> int:
        # splitmix64: the n-th output of the sequence that starts at the (sub)key
        return _fmix(((self._key ^ (sub * 0xD1B54A32D192ED03)) + n * _GOLDEN) & _M64)

    def uniform(self, n: int, sub: int = 0) -> float:
        """In [0, 1)."""
        return (self.bits(n, sub) >> 11) * (1.0 / (1 << 53))

    def normal(self, n: int) -> float:
        h = self.bits(n)
        u1 = ((h >> 32) + 1) / 4294967297.0  # (0, 1): log is finite
        u2 = (h & 0xFFFFFFFF) / 4294967296.0
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


class _Incident(NamedTuple):
    start: float  # UTC seconds
    end: float
    u1: float  # shape parameters in [0, 1), used by the model
    u2: float


class _Schedule:
    """Seeded incidents: Poisson starts at `rate_per_day`, none starting during another.

    Time is cut into slots at least twice as long as the longest incident; each slot's
    incidents come from a generator seeded with (key, slot), so any instant is looked
    up in its slot and the previous one, without history. (With that slot length only
    the previous slot's last incident can reach into a slot, and it is never itself
    one that was dropped for starting during an earlier one.)
    """

    def __init__(self, key: int, rate_per_day: float,
                 duration: Callable[[float, float], float], longest_s: float) -> None:
        self._key = _fmix(key ^ 0x51ED)
        self._rate_per_s = rate_per_day / DAY
        self._duration = duration
        self._slot_s = max(HOUR, 2 * longest_s)
        self._cache: dict[int, tuple[list[float], list[_Incident]]] = {}

    def _slot(self, k: int) -> tuple[list[float], list[_Incident]]:
        hit = self._cache.get(k)
        if hit is not None:
            return hit
        incidents: list[_Incident] = []
        if self._rate_per_s > 0:
            rng = random.Random(_fmix(self._key ^ (k & _M64)))
            t = k * self._slot_s
            end = t + self._slot_s
            while True:
                t += rng.expovariate(self._rate_per_s)
                if t >= end:
                    break
                u1, u2 = rng.random(), rng.random()
                length = min(self._duration(u1, u2), self._slot_s)
                incidents.append(_Incident(t, t + length, u1, u2))
                t += length
        entry = ([i.start for i in incidents], incidents)
        if len(self._cache) >= 64:
            self._cache.clear()
        self._cache[k] = entry
        return entry

    def active(self, ts: float) -> _Incident | None:
        k = math.floor(ts / self._slot_s)
        _, before = self._slot(k - 1)
        previous = before[-1] if before else None
        starts, incidents = self._slot(k)
        i = bisect_right(starts, ts) - 1
        # one that starts while the previous slot's last is still on does not happen
        if i >= 0 and incidents[i].end > ts and (
                previous is None or incidents[i].start >= previous.end):
            return incidents[i]
        if previous is not None and previous.end > ts:
            return previous
        return None


def _log_uniform(lo: float, hi: float) -> Callable[[float, float], float]:
    ratio = hi / lo
    return lambda u1, _u2: lo * ratio**u1


def _ramp(t: float, *, rise: float, plateau: float, fall: float, low: float,
          peak: float) -> float:
    """low → peak over `rise` s, `plateau` s at peak, peak → low over `fall` s."""
    if t < rise:
        return low + (peak - low) * t / rise
    t -= rise
    if t < plateau:
        return peak
    t -= plateau
    return peak - (peak - low) * min(t, fall) / fall


def _lerp_daily(stream: _Stream, local: float) -> float:
    """A standard-normal value per local day (at noon), interpolated in between."""
    pos = (local - 12 * HOUR) / DAY
    day = math.floor(pos)
    f = pos - day
    return stream.normal(day) * (1.0 - f) + stream.normal(day + 1) * f


# --- the models ------------------------------------------------------------------------


class _Model:
    def __init__(self, key: int, rate_per_day: float) -> None:
        self.key = key
        self.rate = rate_per_day
        self.noise = _Stream(key, 1)

    def value(self, ts: float, local: float) -> float:
        raise NotImplementedError


class _Binary(_Model):
    """0 normally, 1 during an incident (leak, smoke, elevator fault)."""

    def __init__(self, key: int, rate_per_day: float, shortest_s: float, longest_s: float) -> None:
        super().__init__(key, rate_per_day)
        self.incidents = _Schedule(key, rate_per_day, _log_uniform(shortest_s, longest_s),
                                   longest_s)

    def value(self, ts: float, local: float) -> float:
        return 1.0 if self.incidents.active(ts) else 0.0


class _Temperature(_Model):
    MEAN = 24.0
    AMPLITUDE = 4.0
    COOLEST = 5 * HOUR
    WARMEST = 15 * HOUR
    # overheating: the motor's temperature ramps from 40 °C to a peak of 63–75 °C in
    # 6 min, stays, and cools back over 12 min; above 60 °C for 10–20 min in all
    RISE, FALL, FROM = 6 * MINUTE, 12 * MINUTE, 40.0

    def __init__(self, key: int, rate_per_day: float) -> None:
        super().__init__(key, rate_per_day)
        self.weather = _Stream(key, 2)
        self.incidents = _Schedule(key, rate_per_day, self._length, 40 * MINUTE)

    @classmethod
    def _shape(cls, u1: float, u2: float) -> tuple[float, float]:
        peak = 63.0 + 12.0 * u1
        above = 10 * MINUTE + 10 * MINUTE * u2
        plateau = above - (cls.RISE + cls.FALL) * (peak - 60.0) / (peak - cls.FROM)
        return peak, plateau

    @classmethod
    def _length(cls, u1: float, u2: float) -> float:
        return cls.RISE + cls._shape(u1, u2)[1] + cls.FALL

    def daily(self, sod: float) -> float:
        """-1 at 05:00, +1 at 15:00, a half cosine each way."""
        if self.COOLEST <= sod < self.WARMEST:
            return -math.cos(math.pi * (sod - self.COOLEST) / (self.WARMEST - self.COOLEST))
        since = (sod - self.WARMEST) % DAY
        return math.cos(math.pi * since / (DAY - (self.WARMEST - self.COOLEST)))

    def value(self, ts: float, local: float) -> float:
        base = (self.MEAN + self.AMPLITUDE * self.daily(local % DAY)
                + 1.5 * _lerp_daily(self.weather, local))
        incident = self.incidents.active(ts)
        if incident is not None:
            peak, plateau = self._shape(incident.u1, incident.u2)
            motor = _ramp(ts - incident.start, rise=self.RISE, plateau=plateau, fall=self.FALL,
                          low=self.FROM, peak=peak)
            base = max(base, motor)
        value = base + 0.15 * self.noise.normal(round(ts * 1000))
        return round(min(125.0, max(-40.0, value)), 1)


# percent per hour by local hour, for an average day: meals fill the bins fastest
_BIN_RATE = [1.9 * r for r in (
    0.5, 0.5, 0.5, 0.5, 0.5, 0.5,  # 00–06
    6.0, 6.0, 6.0,  # 06–09 breakfast, leaving for work
    3.0, 3.0,  # 09–11
    8.0, 8.0,  # 11–13 lunch
    3.0, 3.0, 3.0, 3.0,  # 13–17
    9.0, 9.0, 9.0,  # 17–20 dinner
    3.0, 3.0, 3.0, 3.0,  # 20–24
)]
_BIN_CUM = [0.0]
for _r in _BIN_RATE:
    _BIN_CUM.append(_BIN_CUM[-1] + _r)


class _BinLevel(_Model):
    ROUNDS = (7.5 * HOUR, 13 * HOUR, 19.5 * HOUR)  # cleaners empty the bins, local time
    LOOKBACK = 12  # rounds (4 days): a bin missed that long is full anyway

    def __init__(self, key: int, rate_per_day: float) -> None:
        super().__init__(key, rate_per_day)
        self.p_missed = 1.0 - math.exp(-rate_per_day / len(self.ROUNDS))
        self.rounds = _Stream(key, 3)
        self.days = _Stream(key, 4)

    def missed(self, k: int) -> bool:
        return self.rounds.uniform(k) < self.p_missed

    def round_time(self, k: int) -> float:
        day, i = divmod(k, len(self.ROUNDS))
        return day * DAY + self.ROUNDS[i]

    def last_round(self, local: float) -> int:
        day = math.floor(local / DAY)
        sod = local - day * DAY
        i = bisect_right(self.ROUNDS, sod) - 1  # -1: before the first round of the day
        return day * len(self.ROUNDS) + i

    def day_factor(self, day: int) -> float:
        return 0.95 + 0.15 * self.days.uniform(day)

    @staticmethod
    def _cum(sod: float) -> float:
        h = min(int(sod // HOUR), 23)
        return _BIN_CUM[h] + _BIN_RATE[h] * (sod - h * HOUR) / HOUR

    def filled(self, a: float, b: float) -> float:
        """Percent added between local times a ≤ b."""
        total = 0.0
        day = math.floor(a / DAY)
        while day * DAY < b:
            lo = max(a, day * DAY) - day * DAY
            hi = min(b, (day + 1) * DAY) - day * DAY
            total += self.day_factor(day) * (self._cum(hi) - self._cum(lo))
            day += 1
        return total

    def value(self, ts: float, local: float) -> float:
        k = self.last_round(local)
        level = 100.0
        for back in range(self.LOOKBACK):
            if not self.missed(k - back):
                emptied = self.round_time(k - back)
                residue = 1.0 + 3.0 * self.rounds.uniform(k - back, 1)
                level = residue + self.filled(emptied, local)
                break
        value = min(level, 100.0) + 0.8 * self.noise.normal(round(ts * 1000))
        return round(min(100.0, max(0.0, value)), 1)


# people passing through a stairwell fire door, per minute, by local hour
_DOOR_TRAFFIC = (
    0.01, 0.01, 0.01, 0.01, 0.01, 0.02,  # 00–06
    0.10, 0.40, 0.40,  # 06–09
    0.15, 0.15, 0.20, 0.20,  # 09–13
    0.12, 0.12, 0.12, 0.12,  # 13–17
    0.40, 0.40, 0.30,  # 17–20
    0.15, 0.15, 0.08, 0.04,  # 20–24
)


class _DoorContact(_Model):
    def __init__(self, key: int, rate_per_day: float) -> None:
        super().__init__(key, rate_per_day)
        self.passages = _Stream(key, 5)
        self.incidents = _Schedule(key, rate_per_day, _log_uniform(6 * MINUTE, 60 * MINUTE),
                                   60 * MINUTE)

    def _passing(self, local: float) -> bool:
        now_minute = math.floor(local / MINUTE)
        for minute in (now_minute, now_minute - 1):
            mean = _DOOR_TRAFFIC[int((minute * MINUTE) % DAY // HOUR)]
            u = self.passages.uniform(minute)
            p0 = math.exp(-mean)
            count = 0 if u < p0 else (1 if u < p0 * (1 + mean) else 2)
            for j in range(count):
                start = minute * MINUTE + MINUTE * self.passages.uniform(minute, 2 * j + 1)
                held = 3.0 + 12.0 * self.passages.uniform(minute, 2 * j + 2)
                if start <= local < start + held:
                    return True
        return False

    def value(self, ts: float, local: float) -> float:
        if self.incidents.active(ts) or self._passing(local):
            return 1.0
        return 0.0


class _LampCurrent(_Model):
    # a timer switches the lamp a little before the site's night (19:00–06:00) starts
    # and after it ends, so a working lamp never reads low during the night
    ON, OFF = 18 * HOUR + 55 * MINUTE, 6 * HOUR + 5 * MINUTE
    NOMINAL = 0.45

    def __init__(self, key: int, rate_per_day: float) -> None:
        super().__init__(key, rate_per_day)
        self.incidents = _Schedule(key, rate_per_day, _log_uniform(6 * HOUR, 3 * DAY), 3 * DAY)
        self.nominal = self.NOMINAL + 0.04 * (_Stream(key, 6).uniform(0) - 0.5)

    def value(self, ts: float, local: float) -> float:
        sod = local % DAY
        if self.OFF <= sod < self.ON or self.incidents.active(ts):
            return 0.0
        value = self.nominal + 0.008 * self.noise.normal(round(ts * 1000))
        return round(max(0.0, value), 3)


class _AirQuality(_Model):
    # CO in the underground garage: cars leaving in the morning, coming back at night
    BUMPS = ((8 * HOUR, 40 * MINUTE, 16.0), (18.5 * HOUR, 55 * MINUTE, 20.0))
    # incident (a car left idling, ventilation off): 10 → peak 60–150 ppm in 5 min,
    # down over 15 min; above 50 ppm for 15–45 min in all
    RISE, FALL, FROM = 5 * MINUTE, 15 * MINUTE, 10.0

    def __init__(self, key: int, rate_per_day: float) -> None:
        super().__init__(key, rate_per_day)
        self.days = _Stream(key, 7)
        self.incidents = _Schedule(key, rate_per_day, self._length, 70 * MINUTE)

    @classmethod
    def _shape(cls, u1: float, u2: float) -> tuple[float, float]:
        peak = 60.0 + 90.0 * u1
        above = 15 * MINUTE + 30 * MINUTE * u2
        plateau = above - (cls.RISE + cls.FALL) * (peak - 50.0) / (peak - cls.FROM)
        return peak, plateau

    @classmethod
    def _length(cls, u1: float, u2: float) -> float:
        return cls.RISE + cls._shape(u1, u2)[1] + cls.FALL

    def value(self, ts: float, local: float) -> float:
        day = math.floor(local / DAY)
        sod = local - day * DAY
        weekend = (day + 3) % 7 >= 5  # 1970-01-01 was a Thursday
        traffic = (0.6 if weekend else 1.0) * (0.85 + 0.3 * self.days.uniform(day))
        base = 3.0 + 0.5 * self.days.normal(day)
        for centre, width, height in self.BUMPS:
            base += traffic * height * math.exp(-0.5 * ((sod - centre) / width) ** 2)
        incident = self.incidents.active(ts)
        if incident is not None:
            peak, plateau = self._shape(incident.u1, incident.u2)
            base = max(base, _ramp(ts - incident.start, rise=self.RISE, plateau=plateau,
                                   fall=self.FALL, low=self.FROM, peak=peak))
        value = base + 0.8 * self.noise.normal(round(ts * 1000))
        return round(min(1000.0, max(0.0, value)), 1)


_BUILDERS: dict[SimModel, Callable[[int, float], _Model]] = {
    SimModel.TEMPERATURE: _Temperature,
    SimModel.BIN_LEVEL: _BinLevel,
    SimModel.WATER_LEAK: lambda key, rate: _Binary(key, rate, 5 * MINUTE, 6 * HOUR),
    SimModel.SMOKE: lambda key, rate: _Binary(key, rate, 1 * MINUTE, 20 * MINUTE),
    SimModel.ELEVATOR: lambda key, rate: _Binary(key, rate, 5 * MINUTE, 4 * HOUR),
    SimModel.DOOR_CONTACT: _DoorContact,
    SimModel.LAMP_CURRENT: _LampCurrent,
    SimModel.AIR_QUALITY: _AirQuality,
}
_MODEL_TAGS = {model: i + 1 for i, model in enumerate(SimModel)}


class SimulatorDriver:
    """A simulated device of one kind; see the module's table."""

    def __init__(self, spec: SimulatorSpec) -> None:
        self.spec = spec
        # the seed actually used: log it to replay a run started without one
        self.seed: int = spec.seed if spec.seed is not None else secrets.randbits(63)
        self.metric = METRICS[spec.model]
        self._zone = ZoneInfo(spec.timezone)
        key = _fmix(_fmix(self.seed & _M64) ^ _MODEL_TAGS[spec.model])
        self._model = _BUILDERS[spec.model](key, spec.rate_per_day)

    def read(self, now: datetime) -> dict[str, float]:
        offset = now.utcoffset()
        if offset is None:
            raise ValueError("the simulator needs a timezone-aware time")
        ts = now.timestamp()
        local_offset = now.astimezone(self._zone).utcoffset()
        assert local_offset is not None
        local = ts + local_offset.total_seconds()
        return {self.metric: float(self._model.value(ts, local))}

    def close(self) -> None:
        """Nothing to release."""
