"""Device administration: per-device broker accounts (hashes in the database) and the
Mosquitto password and ACL files made from them (`sunlight devices`)."""
