# Shared helpers for the infra/ scripts. Source it; it defines functions only.

die() {
  echo "error: $*" >&2
  exit 1
}

# apt_install PKG...: installs Debian packages without recommends. A fresh machine may have no
# package lists yet, so the lists are updated only when the first attempt fails.
apt_install() {
  [ "$(id -u)" = 0 ] || die "installing $* needs root (run as root or install the packages first)"
  export DEBIAN_FRONTEND=noninteractive
  local log
  log="$(mktemp)"
  if ! apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1; then
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"; } >"$log" 2>&1; then
      tail -n 20 "$log" >&2
      rm -f "$log"
      die "apt-get install $* failed"
    fi
  fi
  rm -f "$log"
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s; returns 1 after SECONDS.
wait_until() {
  local limit="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "error: timed out after ${limit}s waiting for $what" >&2
      return 1
    fi
    sleep 0.2
  done
}

# pid_alive FILE: true when FILE names a running process.
pid_alive() {
  local pid
  [ -s "$1" ] || return 1
  pid="$(cat "$1")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# stop_pidfile FILE NAME [SECONDS]: TERM the process in FILE, wait for it to exit (KILL after SECONDS).
stop_pidfile() {
  local file="$1" name="$2" limit="${3:-30}" pid
  pid_alive "$file" || { rm -f "$file"; return 0; }
  pid="$(cat "$file")"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + limit))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "warning: $name (pid $pid) ignored SIGTERM for ${limit}s; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.1
  done
  rm -f "$file"
}
