-- Applied only where the TimescaleDB extension is installed (see store/timescale.py).
SELECT create_hypertable('readings', 'time',
                         chunk_time_interval => INTERVAL '1 day',
                         if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('device_events', 'time',
                         chunk_time_interval => INTERVAL '7 days',
                         if_not_exists => TRUE, migrate_data => TRUE);
