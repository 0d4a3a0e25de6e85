#!/usr/bin/env bash
# Runs a browser script of tests/browser/ (SCRIPT.mjs) against a hub in --demo mode on a fresh
# SQLite file, with Debian's chromium driven by playwright-core (installed from npm under
# target/tmp/browser-node). Waits for the demo to publish its first new entry (every 30 s), so
# the week's counts are not empty. The script gets BASE_URL, TOKEN (a MEMBER token of the demo
# feeds' owner), FEED_URL (a demo feed) and OUT (docs/screenshots).
# Usage: scripts/demo-browser.sh SCRIPT   (needs /usr/bin/chromium: apt-get install chromium);
# scripts/screenshots.sh and scripts/slow-network.sh use it.
set -euo pipefail
cd "$(dirname "$0")/.."
script=${1:?usage: scripts/demo-browser.sh SCRIPT (a file of tests/browser/ without .mjs)}
cargo build --quiet
bin=target/debug/tributary
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
db="sqlite:$dir/demo.db"
"$bin" --database "$db" migrate >/dev/null
token=$("$bin" token create --database "$db" --name "screenshots" --role MEMBER --organisation IFRC | grep -o 'trb_[0-9a-f]*')

node_dir=target/tmp/browser-node
mkdir -p "$node_dir"
cp tests/browser/package.json tests/browser/package-lock.json "tests/browser/$script.mjs" "$node_dir/"
[ -d "$node_dir/node_modules/playwright-core" ] || (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)

"$bin" --database "$db" --listen 127.0.0.1:0 serve --demo 2>"$dir/log" &
for _ in $(seq 100); do
  address=$(sed 's/\x1b\[[0-9;]*m//g' "$dir/log" | grep -o 'address=[0-9.:]*' | head -1 | cut -d= -f2) && [ -n "$address" ] && break
  sleep 0.1
done
[ -n "${address:-}" ] || { cat "$dir/log"; echo "the hub did not start" >&2; exit 1; }
base="http://$address"
echo "hub at $base; waiting for the demo's first live entry (up to 40 s)"
n=0
for _ in $(seq 80); do
  n=$(curl -s "$base/graphql" -H 'content-type: application/json' \
    -d '{"query":"{ changes(first: 1) { totalCount } }"}' | grep -o '"totalCount":[0-9]*' | cut -d: -f2)
  [ "${n:-0}" -gt 0 ] && break
  sleep 0.5
done
[ "${n:-0}" -gt 0 ] || { echo "the demo published no new entry in 40 s" >&2; exit 1; }
mkdir -p docs/screenshots
BASE_URL="$base" TOKEN="$token" FEED_URL="$base/demo/feeds/perco-fr.xml" OUT="$PWD/docs/screenshots" \
  node "$node_dir/$script.mjs"
