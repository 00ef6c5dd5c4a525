"""Vision: camera frames to detections to zone rules to findings (SPEC §6)."""
