#!/bin/sh
# make-certs.sh DIR: a private CA for the estate and the broker's TLS certificate in DIR
# (ca.crt, ca.key, server.crt, server.key), unless DIR already holds a certificate and key
# (yours, e.g. from Let's Encrypt: they are kept). Run by the compose stack's one-shot
# `broker-certs` service; works on any host with openssl too.
#
# SUNLIGHT_BROKER_HOST: the name (or IP address) devices use to reach the broker; the
# certificate is valid for it, for `mosquitto` (the compose network) and for localhost.
# Devices pin ca.crt (MQTT_URL=mqtts://DEVICE:PASSWORD@HOST:8883?ca=/etc/sunlight/ca.crt).
# ca.key signs renewals: copy it somewhere offline and delete it here.
set -eu
dir=${1:?usage: make-certs.sh DIR}
host=${SUNLIGHT_BROKER_HOST:-localhost}
cd "$dir"
if [ -s server.crt ] && [ -s server.key ] && [ -s ca.crt ]; then
    echo "make-certs: certificate and key present in $dir, kept"
    exit 0
fi
umask 077
case $host in
    *[!0-9.]*) san="DNS:$host" ;;
    *) san="IP:$host" ;;
esac
openssl req -x509 -new -nodes -newkey rsa:3072 -sha256 -days 3650 \
    -subj "/CN=Sunlight estate CA" -keyout ca.key -out ca.crt 2>/dev/null
openssl req -new -nodes -newkey rsa:2048 -sha256 -subj "/CN=$host" \
    -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=%s,DNS:mosquitto,DNS:localhost,IP:127.0.0.1\n' "$san" > san.ext
openssl x509 -req -sha256 -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -days 825 -extfile san.ext -out server.crt 2>/dev/null
rm -f server.csr san.ext ca.srl
# The broker drops to user mosquitto: it reads the key through its group.
chgrp mosquitto server.key 2>/dev/null || echo "make-certs: no group mosquitto here;" \
    "make server.key readable by the broker's user" >&2
chmod 0640 server.key
chmod 0644 ca.crt server.crt
echo "make-certs: a new CA and a certificate for $host in $dir (devices pin ca.crt)"
