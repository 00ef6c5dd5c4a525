"""Connecting the services to the broker: one place for URLs, versions and sessions.

`mqtt://user:pass@host:1883` speaks MQTT 5 (what Mosquitto and EMQX offer);
`?protocol=3.1.1` selects MQTT 3.1.1 for brokers that lack 5, such as the embedded amqtt.
`mqtts://` turns on TLS with the system's trust store (`?ca=/path/ca.crt` to pin one).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

SESSION_EXPIRY_S = 7 * 24 * 3600  # a persistent session outlives a long outage


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
) -> tuple[mqtt.Client, Properties | None]:
    """A configured client and the CONNECT properties to pass to `connect`.

    A persistent client keeps its session (subscriptions and unacknowledged QoS 1
    messages) at the broker across disconnects: that, not paho's memory, is what makes
    delivery at least once.
    """
    client = mqtt.Client(
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
