#!/bin/sh
# Runs the viewer's browser test (tests/ui/browser.rs) in a real headless Chromium.
# Needs Debian's `chromium` and `chromium-driver` packages:
#   apt-get update && apt-get install -y chromium chromium-driver
# Screenshots of the four pages are left in target/ui-screenshots/.
set -eu
cd "$(dirname "$0")/../.."
chromium="${LLMTRACE_CHROMIUM:-/usr/bin/chromium}"
driver="${LLMTRACE_CHROMEDRIVER:-chromedriver}"
if [ ! -x "$chromium" ] || ! command -v "$driver" >/dev/null 2>&1; then
    echo "tests/browser/run.sh: Chromium ($chromium) or chromedriver ($driver) is not installed;" >&2
    echo "install them: apt-get install -y chromium chromium-driver" >&2
    exit 1
fi
"$chromium" --version
"$driver" --version
exec cargo test --test ui browser -- --ignored --nocapture "$@"
