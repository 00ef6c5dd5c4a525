"""Prometheus metrics of the ingest service (served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECEIVED = Counter("sunlight_ingest_received_total", "MQTT messages received and committed")
STORED = Counter("sunlight_ingest_stored_total", "Rows newly stored", ["table"])
REPEATED = Counter("sunlight_ingest_repeated_total",
                   "Copies of messages already stored (same device and message_id), left out")
DEAD = Counter("sunlight_ingest_dead_lettered_total", "Messages refused to the dead letter")
DEAD_DROPPED = Counter("sunlight_ingest_dead_letters_dropped_total",
                       "Refused messages past their device's hourly dead-letter cap: counted"
                       " in dead_letter_budget, not stored")
TICKETS = Counter("sunlight_ingest_tickets_opened_total", "Tickets opened by sensor rules")
FINDINGS = Counter("sunlight_ingest_findings_total", "Vision finding messages handled")
BATCH_SECONDS = Histogram(
    "sunlight_ingest_batch_seconds", "Time to write and commit one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
LAG_SECONDS = Gauge("sunlight_ingest_lag_seconds",
                    "Receive-to-commit delay of the oldest message of the last batch")
QUEUED = Gauge("sunlight_ingest_queued", "Messages received and waiting for the next batch")
FAILURES = Counter("sunlight_ingest_batch_failures_total", "Batches that failed and were retried")
RETAINED_CLEARED = Counter("sunlight_ingest_retained_cleared_total",
                           "Retained messages outside a status topic that ingest cleared")
