#!/usr/bin/env bash
# Makes sure the local PostgreSQL, Redis and NATS (JetStream) that Tern's services shape and its
# integration tests use are up, starting any that does not answer. Run as root on a machine
# with the Debian packages installed (see ../shared/MACHINE.md); CI runs it before the tests.
set -euo pipefail

log() { printf '[services] %s\n' "$*"; }

probe() { # host port
  timeout 2 bash -c "echo > /dev/tcp/$1/$2" 2>/dev/null
}

wait_for() { # name host port
  for _ in $(seq 1 60); do probe "$2" "$3" && return 0; sleep 0.5; done
  log "$1 did not come up on $2:$3"; return 1
}

if ! probe 127.0.0.1 5432; then
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start
  wait_for PostgreSQL 127.0.0.1 5432
fi
if ! probe 127.0.0.1 6379; then
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis 127.0.0.1 6379
fi
if ! probe 127.0.0.1 4222; then
  log "starting NATS"
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_for NATS 127.0.0.1 4222
fi
log "PostgreSQL, Redis and NATS are up"
