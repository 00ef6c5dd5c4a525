"""Connecting the services to the broker: one place for URLs, versions and sessions.

`mqtt://user:pass@host:1883` speaks MQTT 5 (what Mosquitto and EMQX offer);
`?protocol=3.1.1` selects MQTT 3.1.1 for brokers that lack 5, such as the embedded amqtt.
`mqtts://` turns on TLS with the system's trust store (`?ca=/path/ca.crt` to pin one).
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

SESSION_EXPIRY_S = 7 * 24 * 3600  # a persistent session outlives a long outage
_READ_CHUNK = 256 * 1024
_PACKETS_PER_READ = 2000
_PUBACK = struct.Struct("!BBH")
_U16 = struct.Struct("!H")


def _skip_properties(packet: bytes | bytearray, pos: int) -> int:
    """Past an MQTT 5 property block: a variable-byte length, then that many bytes."""
    length, shift = 0, 0
    while True:
        byte = packet[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return pos + length
        shift += 7


class _BufferedSocket:
    """A socket whose reads come from one large recv() at a time.

    paho reads each packet with two or three tiny recv() calls and a select() in between;
    at tens of thousands of small messages a second those system calls are most of its
    work. `pending()` is how paho's loop learns that bytes are waiting (it asks SSL
    sockets the same), so buffered packets are read without waiting in select().
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = bytearray()

    def recv(self, size: int) -> bytes:
        if not self._buffer:
            chunk = self._sock.recv(max(size, _READ_CHUNK))  # BlockingIOError passes up
            if not chunk:
                return b""
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buffer) + int(inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


RawSink = Callable[[bytes, bytes, int, int, bool], None]  # topic, payload, mid, qos, retain


class FastClient(mqtt.Client):
    """paho's client with buffered reads and many packets per loop turn.

    With `raw_sink` set, QoS 0/1 PUBLISH packets skip paho's MQTTMessage, its MQTT 5
    property parsing and its callback matching (most of its per-message cost): topic,
    payload and packet id go straight to the sink. Sessions, keepalive, reconnects and
    everything else stay paho's.

    Uses paho 2.x internals (`_create_socket`, `loop_read`, `_packet_queue`), so the
    dependency is pinned below 3.
    """

    def _create_socket(self) -> Any:
        return _BufferedSocket(super()._create_socket())

    raw_sink: RawSink | None = None

    def _handle_publish(self) -> MQTTErrorCode:
        command = self._in_packet["command"]
        qos = (command & 0x06) >> 1
        sink = self.raw_sink
        if sink is None or qos > 1 or not self._manual_ack:
            return super()._handle_publish()
        packet = self._in_packet["packet"]
        (length,) = _U16.unpack_from(packet, 0)
        topic = bytes(packet[2 : 2 + length])
        pos = 2 + length
        mid = 0
        if qos:
            (mid,) = _U16.unpack_from(packet, pos)
            pos += 2
        if self._protocol == mqtt.MQTTv5:
            pos = _skip_properties(packet, pos)
        sink(topic, bytes(packet[pos:]), mid, qos, bool(command & 0x01))
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_many(self, mids: Sequence[int]) -> None:
        """Acknowledge QoS 1 messages in one write instead of one packet each.

        A PUBACK is four bytes (success needs no reason code, even in MQTT 5), and
        several back to back on the wire are the same as several separate writes.
        """
        frames = b"".join(_PUBACK.pack(PUBACK, 2, mid) for mid in mids)
        if frames:
            self._packet_queue(PUBACK, frames, 0, 0)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        for _ in range(_PACKETS_PER_READ):
            rc = super().loop_read(1)
            sock: Any = self._sock
            if rc or sock is None or not sock.pending():
                return rc
        return MQTTErrorCode.MQTT_ERR_SUCCESS


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool
    ca_file: str | None
    v5: bool

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"broker URL must start with mqtt:// or mqtts://, not {url!r}")
        query = parse_qs(parts.query)
        protocol = query.get("protocol", ["5"])[0]
        if protocol not in ("5", "3.1.1"):
            raise ValueError(f"protocol must be 5 or 3.1.1, not {protocol!r}")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            ca_file=query.get("ca", [None])[0],
            v5=protocol == "5",
        )


def make_client(
    address: BrokerAddress,
    client_id: str,
    *,
    persistent: bool,
    manual_ack: bool = False,
    receive_maximum: int | None = None,
) -> tuple[FastClient, Properties | None]:
    """A configured client and the CONNECT properties to pass to `connect`.

    A persistent client keeps its session (subscriptions and unacknowledged QoS 1
    messages) at the broker across disconnects: that, not paho's memory, is what makes
    delivery at least once.
    """
    client = FastClient(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if address.v5 else mqtt.MQTTv311,
        clean_session=None if address.v5 else not persistent,
        manual_ack=manual_ack,
    )
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set(ca_certs=address.ca_file, cert_reqs=ssl.CERT_REQUIRED)
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    properties = None
    if address.v5:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if persistent:
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
        if receive_maximum:
            properties.ReceiveMaximum = receive_maximum
    return client, properties


def connect(client: mqtt.Client, address: BrokerAddress, properties: Properties | None, *,
            persistent: bool, keepalive: int = 30) -> None:
    """Start connecting; paho's loop retries by itself if the broker is not up yet."""
    if address.v5:
        client.connect_async(address.host, address.port, keepalive=keepalive,
                             clean_start=not persistent, properties=properties)
    else:
        client.connect_async(address.host, address.port, keepalive=keepalive)


def private_group(group: str, address: BrokerAddress) -> str:
    """The shared-subscription group a service joins for `group`: the name with a suffix
    derived from the service's broker password, which only its own instances know.

    Mosquitto 2.0's ACL file grants every SUBSCRIBE and filters at delivery: a device
    that joined `$share/ingest/…` would be handed its turn of the ingest's messages, and
    a message a member may not read is dropped for the whole group (issue 14 measured
    half of 200 readings gone). A group no device can name cannot be joined. (EMQX
    refuses such a SUBSCRIBE anyway: devices have no subscribe rule.) Without a password
    the name stays as given."""
    if not address.password:
        return group
    digest = hmac.new(address.password.encode(), group.encode(), hashlib.sha256)
    return f"{group}-{digest.hexdigest()[:24]}"
