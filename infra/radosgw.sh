#!/usr/bin/env bash
# A real S3 server on one machine: Ceph radosgw (Debian 12's Ceph 16 "pacific") with one monitor
# and one in-memory (memstore) OSD, no authentication between daemons, no systemd.
#
#   infra/radosgw.sh start          install if needed, bring up mon + osd + gateway, create the test user
#   infra/radosgw.sh stop           stop gateway, osd, mon (memstore data is gone afterwards)
#   infra/radosgw.sh status         exit 0 when the gateway answers
#   infra/radosgw.sh stop-gateway   stop only the gateway (mon + osd keep the data)
#   infra/radosgw.sh start-gateway  start only the gateway again
#
# Environment: PADIM_RGW_DIR (scratch folder, default /tmp/padim-rgw),
# PADIM_RGW_MEMSTORE_BYTES (OSD capacity, default 8 GiB), PADIM_RGW_PORT (default 7480).
# `start` prints shell lines to eval: S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY_ID, ...
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

dir="${PADIM_RGW_DIR:-/tmp/padim-rgw}"
memstore_bytes="${PADIM_RGW_MEMSTORE_BYTES:-8589934592}"
port="${PADIM_RGW_PORT:-7480}"
endpoint="http://127.0.0.1:$port"
region=us-east-1
access_key=padim-test-access
secret_key=padim-test-secret-key-0123456789
uid=padim-test

conf="$dir/ceph.conf"
run="$dir/run"
logs="$dir/log"
marker="# padim-rgw scratch cluster"
mon_pid="$run/mon.a.pid"
osd_pid="$run/osd.0.pid"
rgw_pid="$run/client.rgw.a.pid"

# Without a reachable monitor the ceph tools retry for minutes; bound every call.
ceph_() { timeout 20 ceph -c "$conf" --connect-timeout 10 "$@"; }

http_ok() { curl -s -o /dev/null --max-time 2 "$endpoint/"; }
http_down() { ! http_ok; }

fail_with_log() {
  local name="$1"
  shift
  if [ -f "$logs/$name.log" ]; then
    echo "--- last lines of $logs/$name.log ---" >&2
    tail -n 25 "$logs/$name.log" >&2
  fi
  die "$*"
}

ensure_packages() {
  local missing=()
  command -v radosgw >/dev/null || missing+=(radosgw)
  command -v ceph-mon >/dev/null || missing+=(ceph-mon)
  command -v ceph-osd >/dev/null || missing+=(ceph-osd)
  command -v ceph >/dev/null || missing+=(ceph-common)
  command -v curl >/dev/null || missing+=(curl)
  if [ "${#missing[@]}" -gt 0 ]; then
    apt_install radosgw ceph-mon ceph-osd ceph-common curl
  fi
}

write_conf() {
  local fsid="$1"
  cat >"$conf" <<EOF
$marker (written by infra/radosgw.sh; safe to delete when stopped)
[global]
fsid = $fsid
mon_host = 127.0.0.1:6789
public_addr = 127.0.0.1
ms_bind_msgr2 = false
ms_bind_ipv6 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000
run_dir = $run
log_file = $logs/\$name.log
admin_socket = $run/\$name.asok
pid_file = $run/\$name.pid
keyring = $dir/keyring
mon_data = $dir/mon/\$name
osd_data = $dir/osd/\$name
rgw_data = $dir/rgw/\$name

[osd]
osd_objectstore = memstore
memstore_device_bytes = $memstore_bytes
osd_journal_size = 0

[client.rgw.a]
rgw_frontends = beast endpoint=127.0.0.1:$port
rgw_dns_name = 127.0.0.1
# Deleted objects are reclaimed by the gateway's garbage collector, by default after two hours:
# with an in-memory OSD that fills it up; reclaim within a minute instead.
rgw_gc_obj_min_wait = 30
rgw_gc_processor_period = 30
rgw_gc_processor_max_time = 30
EOF
}

# Only ever wipe a folder this script created (or an empty/missing one).
reset_dir() {
  if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
    grep -qF "$marker" "$conf" 2>/dev/null ||
      die "$dir is not empty and was not made by this script; set PADIM_RGW_DIR to a scratch folder"
    rm -rf "$dir"
  fi
  mkdir -p "$run" "$logs" "$dir/mon" "$dir/osd" "$dir/rgw"
}

osd_up() { ceph_ osd stat 2>/dev/null | grep -q ' 1 up'; }

start_gateway_process() {
  if ! pid_alive "$rgw_pid"; then
    mkdir -p "$dir/rgw/client.rgw.a"
    radosgw -c "$conf" -n client.rgw.a >>"$logs/radosgw-stdout.log" 2>&1 ||
      fail_with_log client.rgw.a "radosgw failed to start"
  fi
  wait_until 90 "the gateway at $endpoint to answer HTTP" http_ok ||
    fail_with_log client.rgw.a "radosgw started but $endpoint does not answer"
}

ensure_user() {
  if ! timeout 30 radosgw-admin -c "$conf" user info --uid="$uid" >/dev/null 2>&1; then
    local out
    out="$(timeout 60 radosgw-admin -c "$conf" user create --uid="$uid" --display-name="padim test user" \
      --access-key="$access_key" --secret-key="$secret_key" 2>&1)" || { echo "$out" >&2; die "radosgw-admin user create failed"; }
  fi
}

s3_curl() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 20 --aws-sigv4 "aws:amz:$region:s3" \
    --user "$access_key:$secret_key" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}

# Pools are created lazily on the first bucket and object: wait until both work end to end.
bucket_round_trip() {
  local bucket="padim-warmup-$RANDOM$RANDOM" code
  code="$(s3_curl -X PUT "$endpoint/$bucket")"
  [ "$code" = 200 ] || return 1
  code="$(s3_curl -X PUT --data-binary warm "$endpoint/$bucket/probe")"
  s3_curl -X DELETE "$endpoint/$bucket/probe" >/dev/null || true
  s3_curl -X DELETE "$endpoint/$bucket" >/dev/null || true
  [ "$code" = 200 ]
}

print_env() {
  local note="$1"
  cat <<EOF
# radosgw $note; state in $dir
export S3_ENDPOINT=$endpoint
export S3_REGION=$region
export S3_ACCESS_KEY_ID=$access_key
export S3_SECRET_ACCESS_KEY=$secret_key
export S3_FORCE_PATH_STYLE=true
EOF
}

start() {
  local t0=$SECONDS
  if command -v curl >/dev/null && http_ok; then
    print_env "already running at $endpoint"
    return 0
  fi
  ensure_packages

  if pid_alive "$mon_pid" && pid_alive "$osd_pid"; then
    # Only the gateway is down: keep the cluster (and the objects in memstore).
    start_gateway_process
    ensure_user
    wait_until 60 "a test bucket to be created" bucket_round_trip || fail_with_log client.rgw.a "cannot create a bucket"
    print_env "ready at $endpoint (gateway restarted in $((SECONDS - t0)) s)"
    return 0
  fi

  # A partial cluster (memstore lost with its OSD) cannot be resumed: start over. A fresh start has
  # been seen to fail once right after a stop (the new OSD refused to start); a second one worked.
  if ! (fresh_cluster); then
    echo "radosgw: the cluster did not start; starting it once more from scratch" >&2
    sleep 3
    (fresh_cluster) || exit 1
  fi
  print_env "ready at $endpoint (started in $((SECONDS - t0)) s)"
}

# Creates a one-monitor, one-memstore-OSD cluster and its gateway from nothing; exits on failure
# (run it in a subshell).
fresh_cluster() {
  stop_all
  reset_dir
  local fsid osd_uuid osd_id
  fsid="$(cat /proc/sys/kernel/random/uuid)"
  osd_uuid="$(cat /proc/sys/kernel/random/uuid)"
  write_conf "$fsid"

  monmaptool --create --addv a '[v1:127.0.0.1:6789]' --fsid "$fsid" "$dir/monmap" >/dev/null 2>&1 ||
    die "monmaptool failed"
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" >>"$logs/mon-mkfs.log" 2>&1 ||
    fail_with_log mon-mkfs "ceph-mon --mkfs failed"
  ceph-mon -c "$conf" -i a >>"$logs/mon-stdout.log" 2>&1 || fail_with_log mon.a "ceph-mon failed to start"
  wait_until 60 "the monitor on 127.0.0.1:6789" ceph_ mon stat || fail_with_log mon.a "the monitor does not answer"

  osd_id="$(ceph_ osd new "$osd_uuid" 2>>"$logs/osd-new.log")" || fail_with_log osd-new "ceph osd new failed"
  [ "$osd_id" = 0 ] || die "expected OSD id 0 on a fresh cluster, got '$osd_id'"
  mkdir -p "$dir/osd/osd.$osd_id"
  ceph-osd -c "$conf" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >>"$logs/osd-mkfs.log" 2>&1 ||
    fail_with_log osd-mkfs "ceph-osd --mkfs failed"
  ceph-osd -c "$conf" -i "$osd_id" >>"$logs/osd-stdout.log" 2>&1 || fail_with_log "osd.$osd_id" "ceph-osd failed to start"
  wait_until 60 "osd.$osd_id to be up" osd_up || fail_with_log "osd.$osd_id" "osd.$osd_id did not come up"

  start_gateway_process
  ensure_user
  wait_until 60 "a test bucket to be created" bucket_round_trip || fail_with_log client.rgw.a "cannot create a bucket"
}

stop_all() {
  stop_pidfile "$rgw_pid" radosgw
  stop_pidfile "$osd_pid" ceph-osd
  stop_pidfile "$mon_pid" ceph-mon
}

stop_gateway() {
  stop_pidfile "$rgw_pid" radosgw
  command -v curl >/dev/null || return 0
  wait_until 20 "port $port to close" http_down || die "something still answers on $endpoint after stopping radosgw"
}

start_gateway() {
  pid_alive "$mon_pid" && pid_alive "$osd_pid" || die "ceph-mon/ceph-osd are not running; use '$0 start'"
  start_gateway_process
}

status() {
  local name file ok=0
  for name in mon.a osd.0 client.rgw.a; do
    file="$run/$name.pid"
    if pid_alive "$file"; then echo "$name: running (pid $(cat "$file"))"; else echo "$name: stopped"; fi
  done
  if command -v curl >/dev/null && http_ok; then echo "gateway: answering at $endpoint"; else echo "gateway: not answering at $endpoint"; ok=3; fi
  return "$ok"
}

case "${1:-}" in
  start) start ;;
  stop) stop_all ;;
  status) status ;;
  stop-gateway) stop_gateway ;;
  start-gateway) start_gateway ;;
  *) echo "usage: $0 start|stop|status|stop-gateway|start-gateway" >&2; exit 2 ;;
esac
