#!/usr/bin/env bash
# Installs (when missing) and starts (when not running) the engines the platform needs:
# PostgreSQL, RabbitMQ and the Docker engine. Idempotent; every daemon is fully detached
# (setsid, stdin from /dev/null, output to log files) so it never holds a caller's terminal.
set -euo pipefail

LOG_DIR=${FNPLAT_LOG_DIR:-/var/log/fnplat}
PG_USER=${FNPLAT_PG_USER:-fnplat}
PG_PASSWORD=${FNPLAT_PG_PASSWORD:-fnplat}
AMQP_USER=${FNPLAT_AMQP_USER:-fnplat}
AMQP_PASSWORD=${FNPLAT_AMQP_PASSWORD:-fnplat}
mkdir -p "$LOG_DIR"

log() { printf '[infra] %s\n' "$*" >&2; }

need_pkgs=()
command -v pg_ctlcluster >/dev/null 2>&1 || need_pkgs+=(postgresql)
command -v rabbitmq-server >/dev/null 2>&1 || need_pkgs+=(rabbitmq-server)
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
command -v git >/dev/null 2>&1 || need_pkgs+=(git)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >"$LOG_DIR/apt.log" 2>&1
  apt-get install -y -q "${need_pkgs[@]}" >>"$LOG_DIR/apt.log" 2>&1 || { tail -30 "$LOG_DIR/apt.log"; exit 1; }
fi

# --- PostgreSQL (Debian cluster management) -------------------------------------------
pg_version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -q "^$pg_version main$"; then
  log "creating PostgreSQL $pg_version cluster"
  pg_createcluster "$pg_version" main >>"$LOG_DIR/postgres-setup.log" 2>&1
fi
if ! pg_lsclusters -h | awk -v v="$pg_version" '$1==v && $2=="main" {print $4}' | grep -q online; then
  log "starting PostgreSQL"
  setsid pg_ctlcluster "$pg_version" main start </dev/null >>"$LOG_DIR/postgres-setup.log" 2>&1
fi
pg_port=$(pg_lsclusters -h | awk -v v="$pg_version" '$1==v && $2=="main" {print $3}')
for _ in $(seq 1 60); do
  runuser -u postgres -- psql -p "$pg_port" -Atc 'select 1' >/dev/null 2>&1 && break
  sleep 0.5
done
runuser -u postgres -- psql -p "$pg_port" -v ON_ERROR_STOP=1 -q >/dev/null <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SQL
if ! runuser -u postgres -- psql -p "$pg_port" -Atc "select 1 from pg_database where datname='fnplat'" | grep -q 1; then
  runuser -u postgres -- createdb -p "$pg_port" -O "$PG_USER" fnplat
fi

# --- RabbitMQ ---------------------------------------------------------------------------
if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
  log "starting RabbitMQ"
  # AMQP on loopback only: sandbox containers must not reach it through a host address.
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 setsid rabbitmq-server </dev/null >"$LOG_DIR/rabbitmq.log" 2>&1 &
  for _ in $(seq 1 120); do
    rabbitmq-diagnostics -q ping >/dev/null 2>&1 && break
    sleep 1
  done
  rabbitmq-diagnostics -q ping >/dev/null 2>&1 || { log "RabbitMQ did not start"; tail -30 "$LOG_DIR/rabbitmq.log"; exit 1; }
fi
rabbitmqctl -q await_startup --timeout 120 >/dev/null
if ! rabbitmqctl -q list_users 2>/dev/null | awk '{print $1}' | grep -qx "$AMQP_USER"; then
  rabbitmqctl -q add_user "$AMQP_USER" "$AMQP_PASSWORD" >/dev/null
  rabbitmqctl -q set_user_tags "$AMQP_USER" administrator >/dev/null
fi
rabbitmqctl -q set_permissions -p / "$AMQP_USER" '.*' '.*' '.*' >/dev/null

# --- Docker engine ----------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  setsid dockerd </dev/null >"$LOG_DIR/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not start"; tail -30 "$LOG_DIR/dockerd.log"; exit 1; }
fi

# --- Sandbox network ---------------------------------------------------------------------
# Build and runtime containers join this network (ICC off) and reach the internet through NAT, but
# nothing on the host itself (PostgreSQL, RabbitMQ, Erlang distribution, the platform's ports,
# a TCP Docker API): every new connection from its bridge to a host address is dropped. The
# workers create the network too when missing (same name/bridge); the firewall is this script's.
SANDBOX_NETWORK=${FNPLAT_SANDBOX_NETWORK:-fnplat-sandbox}
SANDBOX_BRIDGE=${FNPLAT_SANDBOX_BRIDGE:-fnplat-sbx0}
if ! docker network inspect "$SANDBOX_NETWORK" >/dev/null 2>&1; then
  docker network create --driver bridge --label fnplat.role=sandbox-network \
    -o com.docker.network.bridge.enable_icc=false \
    -o com.docker.network.bridge.name="$SANDBOX_BRIDGE" "$SANDBOX_NETWORK" >/dev/null
fi
if command -v iptables >/dev/null 2>&1; then
  iptables -N FNPLAT-SANDBOX 2>/dev/null || true
  iptables -F FNPLAT-SANDBOX
  iptables -A FNPLAT-SANDBOX -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
  iptables -A FNPLAT-SANDBOX -p tcp -j REJECT --reject-with tcp-reset
  iptables -A FNPLAT-SANDBOX -j DROP
  iptables -C INPUT -i "$SANDBOX_BRIDGE" -j FNPLAT-SANDBOX 2>/dev/null ||
    iptables -I INPUT -i "$SANDBOX_BRIDGE" -j FNPLAT-SANDBOX
else
  log "WARNING: iptables not found; sandbox containers can reach host services on non-loopback addresses"
fi

log "PostgreSQL on 127.0.0.1:$pg_port, RabbitMQ on 127.0.0.1:5672, Docker engine up"
echo "FNPLAT_PG_PORT=$pg_port"
