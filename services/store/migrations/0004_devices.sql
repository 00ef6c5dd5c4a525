-- Device credentials: what an account is (its ACL follows from it, so the broker's files
-- are rendered from this table alone) and when its password last changed.
ALTER TABLE device_credentials
    ADD COLUMN role text NOT NULL DEFAULT 'device'
        CHECK (role IN ('device', 'camera', 'service')),
    ADD COLUMN rotated_at timestamptz;
