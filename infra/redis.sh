#!/usr/bin/env bash
# Redis for tests and local runs: 127.0.0.1:6379, no persistence, no eviction (queues must never
# lose keys silently). Usage: infra/redis.sh start|stop|restart|status
# PADIM_REDIS_PORT overrides the port (default 6379).
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

host=127.0.0.1
port="${PADIM_REDIS_PORT:-6379}"

ping_ok() { [ "$(redis-cli -h "$host" -p "$port" ping 2>/dev/null)" = PONG ]; }
is_down() { ! ping_ok; }

# An already running server may have been started with another policy (Debian's default config).
enforce_policy() {
  local out
  out="$(redis-cli -h "$host" -p "$port" config set maxmemory-policy noeviction 2>&1)" ||
    die "redis at $host:$port: config set maxmemory-policy noeviction failed: $out"
  [ "$out" = OK ] || die "redis at $host:$port: config set maxmemory-policy noeviction answered: $out"
}

start() {
  if command -v redis-cli >/dev/null && ping_ok; then
    enforce_policy
    return 0
  fi
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    apt_install redis-server redis-tools
  fi
  # Package installation may have started Debian's own service.
  if ping_ok; then
    enforce_policy
    return 0
  fi
  local out
  out="$(redis-server --daemonize yes --bind "$host" --port "$port" --save "" --appendonly no \
    --maxmemory-policy noeviction 2>&1)" || die "redis-server failed to start: $out"
  wait_until 20 "redis on $host:$port to answer PONG" ping_ok ||
    die "redis-server started but $host:$port does not answer (port taken by something else?)"
  enforce_policy
}

stop() {
  command -v redis-cli >/dev/null || return 0
  ping_ok || return 0
  redis-cli -h "$host" -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait_until 20 "redis on $host:$port to shut down" is_down || die "redis on $host:$port did not shut down"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status)
    if command -v redis-cli >/dev/null && ping_ok; then echo "redis: running on $host:$port"; else echo "redis: not running"; exit 3; fi
    ;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
