#!/usr/bin/env bash
# Screenshots of the dashboard and the registration page in the five languages, and the Arabic
# dashboard on a phone, into docs/screenshots/ (tests/browser/screenshots.mjs on a demo hub).
exec "$(dirname "$0")/demo-browser.sh" screenshots
