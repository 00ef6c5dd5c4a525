-- Sensor readings and device events: time series, hypertables where TimescaleDB exists.
-- A unique index on a hypertable must include the time column, so idempotence on the
-- message id is (device, message, time): a redelivered message carries the same time.
-- Compression needs every column of that index in segmentby/orderby (see .tsl.sql).

CREATE TABLE readings (
    time        timestamptz NOT NULL,
    site        text NOT NULL,
    device_id   text NOT NULL,
    metric      text NOT NULL,
    value       double precision NOT NULL,
    message_id  text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX readings_message ON readings (device_id, metric, message_id, time);
CREATE INDEX readings_device_time ON readings (device_id, metric, time DESC);

CREATE TABLE device_events (
    time        timestamptz NOT NULL,
    site        text NOT NULL,
    device_id   text NOT NULL,
    event       text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}',
    message_id  text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX device_events_message ON device_events (device_id, message_id, time);
CREATE INDEX device_events_device_time ON device_events (device_id, time DESC);
