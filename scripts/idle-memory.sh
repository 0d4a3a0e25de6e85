#!/usr/bin/env bash
# Resident memory of the idle hub: a release build on a fresh SQLite file, measured after start,
# after 200 GraphQL requests, and (second run) in demo mode after its sample feeds are ingested.
# Usage: scripts/idle-memory.sh   (builds with `cargo build --release` first)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/tributary
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT

rss() { awk '/VmRSS/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$1/status"; }
wait_ready() { for _ in $(seq 100); do curl -sf "http://$1/readyz" >/dev/null && return; sleep 0.1; done; echo "not ready" >&2; exit 1; }
query() { curl -s "http://$1/graphql" -H 'content-type: application/json' -d "$2" >/dev/null; }

measure() {
  local mode=$1 addr=$2; shift 2
  "$bin" --database "sqlite:$dir/$mode.db" --listen "$addr" serve "$@" 2>"$dir/$mode.log" &
  local pid=$!
  wait_ready "$addr"
  sleep 2
  echo "$mode: after start: $(rss $pid)"
  if [ "$mode" = demo ]; then sleep 8; fi
  for i in $(seq 200); do
    query "$addr" "{\"query\":\"{ items(first: 50, filter: { search: \\\"route\\\" }) { totalCount nodes { title organisation { name } feed { url } } } n$((i % 20)): networks { slug } }\"}"
  done
  echo "$mode: after 200 GraphQL requests: $(rss $pid)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

measure idle 127.0.0.1:18181
measure demo 127.0.0.1:18182 --demo
