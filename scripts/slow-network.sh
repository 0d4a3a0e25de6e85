#!/usr/bin/env bash
# The two pages over throttled connections (Slow 3G and Fast 3G), medians of three cold loads
# each (tests/browser/slow-network.mjs on a demo hub); BENCHMARKS.md, "Web pages".
exec "$(dirname "$0")/demo-browser.sh" slow-network
