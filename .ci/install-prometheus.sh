#!/usr/bin/env bash
# Installs Debian's prometheus package (which ships both `prometheus` and `promtool`) when either
# binary is missing. The @muai/monitoring tests validate the exporter's output with the real
# `promtool check metrics` and scrape it with a real `prometheus` server.
# Idempotent: does nothing when both binaries are already on PATH.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

if ! $SUDO apt-get install -y --no-install-recommends prometheus; then
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends prometheus
fi

# Debian's package starts a system service where an init system runs; the tests start their own
# Prometheus on a free port, so stop the packaged one if it was started (and ignore failures).
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl stop prometheus >/dev/null 2>&1 || true; fi
if command -v service >/dev/null 2>&1; then $SUDO service prometheus stop >/dev/null 2>&1 || true; fi

command -v promtool >/dev/null
command -v prometheus >/dev/null
