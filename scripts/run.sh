#!/usr/bin/env bash
# Starts the whole stack on loopback: rymi-manager, rymi-gateway, rymi-dialer and, unless
# PLIVO_AUTH_ID is set (real Plivo), rymi-plivo-sim with credentials of its own.
# Prints how to reach it; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${RYMI_BIN_DIR:-.build/release}
export RYMI_DATA_DIR=${RYMI_DATA_DIR:-./data}
export RYMI_HTTP_ADDR=${RYMI_HTTP_ADDR:-127.0.0.1:8080}
export RYMI_ADMIN_ADDR=${RYMI_ADMIN_ADDR:-127.0.0.1:9464}
export RYMI_MANAGER_LISTEN=${RYMI_MANAGER_LISTEN:-127.0.0.1:7070}
export RYMI_MANAGER_ADDR=${RYMI_MANAGER_ADDR:-$RYMI_MANAGER_LISTEN}
export RYMI_PUBLIC_URL=${RYMI_PUBLIC_URL:-http://$RYMI_HTTP_ADDR}
mkdir -p "$RYMI_DATA_DIR" "$RYMI_DATA_DIR/logs"

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# A local key, made once and kept beside the data so it survives restarts.
key_file="$RYMI_DATA_DIR/local-api-key"
if [ -z "${RYMI_API_KEYS:-}" ]; then
  if [ ! -s "$key_file" ]; then
    (umask 077; echo "rk_local_$(random_hex 16)" > "$key_file")
  fi
  key=$(cat "$key_file")
  export RYMI_API_KEYS="local:$key"
else
  key="(from RYMI_API_KEYS)"
fi

# The demo account's caller ID (the walkthrough's "+1 415 555 0100"): a campaign may only call
# from its account's numbers.
export RYMI_ACCOUNT_NUMBERS="${RYMI_ACCOUNT_NUMBERS:-local:+14155550100}"

# The internal protocol's role secrets, made once beside the data like the key: the manager
# shares one with the gateway and another with the dialers.
for role in gateway dialer; do
  variable="RYMI_$(echo "$role" | tr a-z A-Z)_SECRET"
  secret_file="$RYMI_DATA_DIR/$role-secret"
  if [ -z "${!variable:-}" ] && [ -z "$(printenv "${variable}_FILE" || true)" ]; then
    [ -s "$secret_file" ] || (umask 077; random_hex 32 > "$secret_file")
    export "${variable}_FILE=$secret_file"
  fi
done

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

# Waits until a process's log shows its `listening` event.
wait_listening() {
  local log=$1 name=$2
  for _ in $(seq 1 100); do
    grep -q '"event":"listening"' "$log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$name did not start; see $log" >&2
  cat "$log" >&2
  exit 1
}

plivo="Plivo at ${PLIVO_API_URL:-https://api.plivo.com}"
if [ -z "${PLIVO_AUTH_ID:-}" ]; then
  export RYMI_SIM_ADDR=${RYMI_SIM_ADDR:-127.0.0.1:9090}
  export PLIVO_AUTH_ID="MA$(random_hex 9 | tr a-f A-F)"
  export PLIVO_AUTH_TOKEN="$(random_hex 20)"
  export PLIVO_API_URL="http://$RYMI_SIM_ADDR"
  export RYMI_DIAL_CPS=${RYMI_DIAL_CPS:-10}
  "$bin/rymi-plivo-sim" > "$RYMI_DATA_DIR/logs/plivo-sim.log" 2>&1 &
  pids+=($!)
  wait_listening "$RYMI_DATA_DIR/logs/plivo-sim.log" rymi-plivo-sim
  plivo="the bundled Plivo simulator at $PLIVO_API_URL (calls it made: $PLIVO_API_URL/sim/calls)"
fi

"$bin/rymi-manager" > "$RYMI_DATA_DIR/logs/manager.log" 2>&1 &
pids+=($!)
wait_listening "$RYMI_DATA_DIR/logs/manager.log" rymi-manager

"$bin/rymi-gateway" > "$RYMI_DATA_DIR/logs/gateway.log" 2>&1 &
pids+=($!)
wait_listening "$RYMI_DATA_DIR/logs/gateway.log" rymi-gateway

"$bin/rymi-dialer" > "$RYMI_DATA_DIR/logs/dialer.log" 2>&1 &
pids+=($!)

url="http://$RYMI_HTTP_ADDR"
cat <<INFO

Rymi Campaigns is running.
  API:       $url/v1   (OpenAPI: $url/openapi.json)
  Dashboard: $url/      (sign in with the API key)
  API key:   $key
  Dialing:   $plivo
  Logs:      $RYMI_DATA_DIR/logs/
  Admin:     http://$RYMI_ADMIN_ADDR/metrics and /readyz (operators only)

Try:
  curl -s -X POST $url/v1/campaigns -H "Authorization: Bearer $key" \\
       -d '{"name":"Spring renewals","agent_id":"agent_42","call_from_number":"14155550100"}'

Press Ctrl-C to stop.
INFO
wait -n "${pids[@]}"
