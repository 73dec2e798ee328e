#!/usr/bin/env bash
# Installs Debian's Chromium and its driver for the browser tests (tests/web) when they are missing,
# as .ci/postgres.sh installs PostgreSQL (CI runs as root). Where they cannot be installed the browser
# tests are skipped, each saying why; nothing is downloaded at test time.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "ci: no Chromium and no way to install it here (root and apt-get needed); the browser tests will be skipped" >&2
  exit 0
fi
echo "ci: installing Chromium and ChromeDriver (Debian packages) for the browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
started=$SECONDS
# fonts-noto-color-emoji: the bot's emoji (✅ ⏳ 🔔) in the screenshots, as a desktop browser shows them.
if apt-get update -qq >/dev/null \
    && apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-noto-color-emoji >/dev/null; then
  echo "ci: Chromium installed in $((SECONDS - started)) s" >&2
else
  echo "ci: installing Chromium failed; the browser tests will be skipped" >&2
fi
