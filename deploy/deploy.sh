#!/usr/bin/env bash
# Installs or upgrades a MuAI release on this host, then restarts the service and rolls back if
# it does not become ready. Run as root (or as a user that owns --prefix and may run systemctl).
#
#   ./deploy.sh                                   # build a release from this checkout and install it
#   ./deploy.sh --archive muai-release.tgz        # install a release built elsewhere (CI artifact)
#   ./deploy.sh --dry-run                         # print every step, change nothing
#   ./deploy.sh --rollback                        # switch back to the previous release
#
# Layout: <prefix>/releases/<id>/ (one full release each), <prefix>/current -> releases/<id> (the
# unit's ExecStart runs <prefix>/current/apps/cli/bin/muai.mjs), /etc/muai/muai.env (MUAI_*).
# Steps: build or unpack -> `muai config validate` with the service's environment -> switch the
# symlink -> systemctl restart -> wait for GET /ready = 200 -> on failure switch back, restart, exit 1.
set -euo pipefail

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'
Options:
  --source DIR       build from this checkout (default: the repository holding this script)
  --archive FILE     unpack this release archive (.tgz of a built tree) instead of building
  --prefix DIR       install root (default /opt/muai)
  --service NAME     systemd unit (default muai-orchestration)
  --env-file FILE    environment of the service, read for validation (default /etc/muai/muai.env)
  --workdir DIR      the service's WorkingDirectory, where validation runs (default /var/lib/muai)
  --url URL          where the service answers (default http://127.0.0.1:${MUAI_MON_SERVER_PORT:-8000})
  --ready-timeout S  seconds to wait for /ready (default 120)
  --keep N           releases kept after a successful deploy (default 5)
  --rollback         switch to the previous release, restart, check /ready
  --dry-run          print what would be done, change nothing
  -h, --help         this help
EOF
}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source_dir=$(cd "$script_dir/.." && pwd)
archive=""
prefix=/opt/muai
workdir=/var/lib/muai
service=muai-orchestration
env_file=/etc/muai/muai.env
url=""
ready_timeout=120
keep=5
dry_run=false
rollback_only=false

while [ $# -gt 0 ]; do
  case "$1" in
    --source) source_dir=$(cd "$2" && pwd); shift 2 ;;
    --archive) archive=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --service) service=$2; shift 2 ;;
    --env-file) env_file=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --url) url=$2; shift 2 ;;
    --ready-timeout) ready_timeout=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --rollback) rollback_only=true; shift ;;
    --dry-run) dry_run=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "deploy: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { echo "deploy: $*" >&2; }
die() { log "error: $*"; exit 1; }
# Runs a command, or only prints it with --dry-run.
run() {
  if $dry_run; then
    printf '+' >&2; printf ' %q' "$@" >&2; printf '\n' >&2
  else
    "$@"
  fi
}

# The service's environment (MUAI_CONFIG, MUAI_MON_SERVER_PORT, ...) for validation and the URL.
if [ -f "$env_file" ]; then
  set -a
  # shellcheck disable=SC1090
  . "$env_file"
  set +a
fi
[ -n "$url" ] || url="http://127.0.0.1:${MUAI_MON_SERVER_PORT:-8000}"

releases="$prefix/releases"
# Relative paths in MUAI_CONFIG resolve as the service sees them: from its WorkingDirectory.
[ -d "$workdir" ] || workdir=/
current="$prefix/current"

# Points <prefix>/current at $1 atomically (a new symlink renamed over the old one).
switch_to() {
  run ln -sfn "$1" "$current.new"
  run mv -T "$current.new" "$current"
  log "current -> $1"
}

# Waits until GET <url>/ready answers 200; returns 1 after --ready-timeout seconds.
wait_ready() {
  if $dry_run; then
    log "would wait up to ${ready_timeout}s for $url/ready"
    return 0
  fi
  local deadline=$((SECONDS + ready_timeout)) code
  while [ $SECONDS -lt $deadline ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/ready" || true)
    if [ "$code" = 200 ]; then
      log "$url/ready answered 200"
      return 0
    fi
    sleep 1
  done
  log "$url/ready did not answer 200 within ${ready_timeout}s (last status: ${code:-none})"
  return 1
}

restart_and_check() {
  run systemctl restart "$service"
  wait_ready
}

previous_release() {
  [ -L "$current" ] && readlink "$current" || true
}

# Switches back to $1 (when there is one) after a failed start; always exits 1.
roll_back() {
  local to=$1 failed=$2
  if [ -z "$to" ] || [ ! -d "$to" ]; then
    die "the new release $failed did not become ready and there is no previous release to go back to; see journalctl -u $service and logs/muai.log"
  fi
  log "rolling back to $to"
  switch_to "$to"
  # The failed release goes, so that a later --rollback never picks it.
  run rm -rf "$failed"
  if restart_and_check; then
    die "the new release $failed did not become ready; rolled back to $to, which is serving. See journalctl -u $service"
  fi
  die "the new release $failed did not become ready, and the previous release $to did not either after the rollback; see journalctl -u $service"
}

if $rollback_only; then
  from=$(previous_release)
  [ -n "$from" ] || die "$current is not a symlink: nothing is installed"
  # The newest release older than the current one (ids sort by time).
  to=$(find "$releases" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort | awk -v current="$from" '$0 < current' | tail -n 1)
  [ -n "$to" ] || die "no release older than $from under $releases"
  switch_to "$to"
  restart_and_check || roll_back "$from" "$to"
  log "rolled back from $from to $to"
  exit 0
fi

command -v node >/dev/null || die "node is not installed (Node.js >= 20.11)"
$dry_run || command -v curl >/dev/null || die "curl is not installed (needed to check /ready)"

id=$(date -u +%Y%m%dT%H%M%S%3N)
if [ -z "$archive" ] && git -C "$source_dir" rev-parse --short HEAD >/dev/null 2>&1; then
  id="$id-$(git -C "$source_dir" rev-parse --short HEAD)"
fi
release="$releases/$id"
[ ! -e "$release" ] || die "$release already exists"
previous=$(previous_release)
log "release $id into $release (previous: ${previous:-none})"

# 1. Build or unpack. A build runs the same commands as CI: npm ci (its prepare script builds
#    every package and generates the default model).
run mkdir -p "$releases"
if [ -n "$archive" ]; then
  [ -f "$archive" ] || die "no archive at $archive"
  run mkdir -p "$release"
  run tar -xzf "$archive" -C "$release"
else
  [ -f "$source_dir/package.json" ] || die "$source_dir is not a MuAI checkout"
  run mkdir -p "$release"
  if git -C "$source_dir" rev-parse HEAD >/dev/null 2>&1; then
    # The committed tree only: no local node_modules, build output or stray files.
    if $dry_run; then run git -C "$source_dir" archive HEAD; else git -C "$source_dir" archive HEAD | tar -x -C "$release"; fi
  else
    run cp -a "$source_dir/." "$release/"
  fi
  if $dry_run; then
    run npm ci --no-audit --no-fund
  else
    (cd "$release" && NX_DAEMON=false NX_NO_CLOUD=true npm ci --no-audit --no-fund) || { rm -rf "$release"; die "npm ci failed in $release"; }
  fi
fi

# 2. Validate the configuration the service will run with, with the new release's own rules.
log "validating the configuration (muai config validate)"
if $dry_run; then
  run node "$release/apps/cli/bin/muai.mjs" config validate
elif ! (cd "$workdir" && node "$release/apps/cli/bin/muai.mjs" config validate >&2); then
  rm -rf "$release"
  die "the configuration is invalid for release $id; nothing was switched (fix it, or run the new release's muai config validate)"
fi

# 3. Switch, 4. restart, 5. check /ready; 6. roll back on failure.
switch_to "$release"
if ! restart_and_check; then
  roll_back "$previous" "$release"
fi

# 7. Keep the newest --keep releases (never the current one).
if ! $dry_run; then
  find "$releases" -mindepth 1 -maxdepth 1 -type d | sort | head -n -"$keep" | while read -r old; do
    [ "$old" = "$release" ] || rm -rf "$old"
  done
fi
log "release $id is live"
