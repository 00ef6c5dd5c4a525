-- Compression and retention are TimescaleDB Community (TSL) features: applied only when
-- the server runs under the `timescale` license (the Apache build lacks them).
ALTER TABLE readings SET (timescaledb.compress,
                          timescaledb.compress_segmentby = 'device_id, metric',
                          timescaledb.compress_orderby = 'time DESC, message_id');
SELECT add_compression_policy('readings', INTERVAL '7 days', if_not_exists => TRUE);
SELECT add_retention_policy('readings', INTERVAL '2 years', if_not_exists => TRUE);
ALTER TABLE device_events SET (timescaledb.compress,
                               timescaledb.compress_segmentby = 'device_id',
                               timescaledb.compress_orderby = 'time DESC, message_id');
SELECT add_compression_policy('device_events', INTERVAL '30 days', if_not_exists => TRUE);
