#!/bin/sh
# bootstrap.sh: the compose stack's first start, run once from anywhere:
#
#   deploy/compose/bootstrap.sh && docker compose -f deploy/compose.yaml up -d
#
# 1. makes the secrets into deploy/compose/env/*.env (mode 0600, ignored by git): the
#    database password, SUNLIGHT_SECRET_KEY;
# 2. starts TimescaleDB and applies the migrations (the `migrate` service);
# 3. creates the broker accounts in the database (`sunlight devices service|add`): the
#    three services' and one per device of compose/edge-simulator.yaml, and writes each
#    password (printed once by sunlight) into the env file of whoever logs in with it.
#
# A file that exists is left alone, so running it again changes nothing; delete an env
# file to make its secrets again (the accounts' passwords are then rotated).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
env_dir="$here/env"
compose() { docker compose -f "$here/../compose.yaml" "$@"; }
secret() { openssl rand -hex 24; }
umask 077
mkdir -p "$env_dir"

if [ ! -f "$env_dir/database.env" ] || [ ! -f "$env_dir/sunlight.env" ]; then
    password=$(secret)
    printf 'POSTGRES_PASSWORD=%s\n' "$password" > "$env_dir/database.env"
    {
        printf 'DATABASE_URL=postgresql://sunlight:%s@timescaledb:5432/sunlight\n' "$password"
        printf 'SUNLIGHT_SECRET_KEY=%s\n' "$(secret)"
    } > "$env_dir/sunlight.env"
    echo "bootstrap: made database.env and sunlight.env"
fi

compose up -d --wait timescaledb
compose run --rm migrate

# Accounts whose env file is missing: (re)made, their passwords captured.
services=""
for name in ingest vision board; do
    [ -f "$env_dir/$name.env" ] || services="$services $name"
done
devices=""
if [ ! -f "$env_dir/edge.env" ]; then
    devices=$(sed -n 's/^ *- device: *\([a-z0-9_-]*\).*/\1/p' "$here/edge-simulator.yaml")
fi
if [ -z "$services$devices" ]; then
    echo "bootstrap: every env file exists; nothing to do"
    exit 0
fi

# One container for all accounts; sunlight prints "  username: U" then "  password: P".
out=$(compose run --rm -T broker-files sh -ec '
    for s in $1; do sunlight devices service "$s" --dir /mosquitto/auth --group mosquitto; done
    for d in $2; do
        sunlight devices add "$d" --rotate --dir /mosquitto/auth --group mosquitto
    done' sh "$services" "$devices")
pairs=$(printf '%s\n' "$out" | awk '/^  username: /{u=$2} /^  password: /{print u, $2}')
password_of() { printf '%s\n' "$pairs" | awk -v u="$1" '$1 == u {print $2}'; }

for name in $services; do
    password=$(password_of "sunlight-$name")
    [ -n "$password" ] || { echo "bootstrap: no password for sunlight-$name" >&2; exit 1; }
    printf 'MQTT_URL=mqtt://sunlight-%s:%s@mosquitto:1883\n' "$name" "$password" \
        > "$env_dir/$name.env"
    if [ "$name" = board ]; then  # the broker's health check logs in as the board
        printf 'HEALTH_USER=sunlight-board\nHEALTH_PASSWORD=%s\n' "$password" \
            > "$env_dir/mosquitto.env"
    fi
done
if [ -n "$devices" ]; then
    {
        printf 'EDGE_MQTT_URL=mqtt://mosquitto:1883\n'
        for device in $devices; do
            password=$(password_of "$device")
            [ -n "$password" ] || { echo "bootstrap: no password for $device" >&2; exit 1; }
            variable=$(printf 'SUNLIGHT_PW_%s' "$device" | tr 'a-z-' 'A-Z_')
            printf '%s=%s\n' "$variable" "$password"
        done
    } > "$env_dir/edge.env"
fi
echo "bootstrap: broker accounts made; start the stack with" \
    "docker compose -f deploy/compose.yaml up -d"
