#!/usr/bin/env bash
# Debian's Chromium and a CJK font for the browser tests (tests/e2e/). Idempotent: does
# nothing when both are present. The tests drive /usr/bin/chromium with Python Playwright;
# `playwright install` (which downloads its own browser build) is never run.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# Without a CJK font the screenshots show boxes instead of Chinese.
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
  need+=(fonts-wqy-microhei)
fi
if [ "${#need[@]}" -eq 0 ]; then
  echo "install-browser: chromium and a CJK font already installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" fontconfig >/dev/null
echo "install-browser: installed ${need[*]}"
chromium --version || true
