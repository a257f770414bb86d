#!/usr/bin/env bash
# The guide's `./deploy.sh`: installs or upgrades MuAI on this host. See deploy/deploy.sh --help.
exec "$(dirname "${BASH_SOURCE[0]}")/deploy/deploy.sh" "$@"
