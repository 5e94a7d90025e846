#!/usr/bin/env bash
# Starts, stops and watches the four fnplat services on one machine.
#
#   scripts/stack.sh up                 make up: infra, images, build, start, print endpoint/key,
#                                       follow the logs; Ctrl-C stops the services
#   scripts/stack.sh start  [up|e2e]    start the services detached and wait until ready
#   scripts/stack.sh stop   [up|e2e]    SIGTERM the services started by `start`, wait, then SIGKILL
#   scripts/stack.sh status [up|e2e]    pids and readiness
#   scripts/stack.sh logs   [up|e2e]    tail of every service log
#   scripts/stack.sh env    [up|e2e]    the endpoint, project and key as shell assignments
#   scripts/stack.sh admin  <up|e2e> ... the gateway admin command (create-project, create-key)
#   scripts/stack.sh e2e-resources      (re)create the e2e database, vhost and directories
#   scripts/stack.sh e2e-cleanup        drop the e2e database and vhost
#
# FNPLAT_SKIP_SETUP=1 makes `up` skip infra-up, build-images and cargo build (already done).
#
# Profiles: `up` (gateway :8080, admin ports 8081-8083, database fnplat, vhost /, storage
# /var/lib/fnplat/storage, logs /var/log/fnplat) and `e2e` (gateway :18080, admin ports 18081-18083,
# database fnplat_e2e, vhost fnplat-e2e, everything under /var/lib/fnplat/e2e and /var/log/fnplat/e2e).
#
# Every service is fully detached (own session via setsid, stdin from /dev/null, output to its log
# file) and recorded in a pid file, so nothing started here holds the caller's terminal or pipes.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=(api-gateway builder-worker executor-worker scheduler)
READY_TIMEOUT=${FNPLAT_READY_TIMEOUT:-60}
STOP_TIMEOUT=${FNPLAT_STOP_TIMEOUT:-30}
BIN_DIR=${FNPLAT_BIN_DIR:-$ROOT/target/debug}
PG_HOST=127.0.0.1
PG_PORT=${FNPLAT_PG_PORT:-5432}
DB_USER=fnplat
DB_PASSWORD=fnplat
AMQP_USER=fnplat
AMQP_PASSWORD=fnplat

log() { printf '[stack] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- profiles ----------------------------------------------------------------------------
profile() {
  PROFILE=${1:-up}
  case "$PROFILE" in
    up)
      GATEWAY_PORT=8080
      ADMIN_BASE=8080
      DB_NAME=fnplat
      VHOST=/
      DATA_DIR=/var/lib/fnplat
      STORAGE_DIR=/var/lib/fnplat/storage
      WORK_DIR=/var/lib/fnplat/work
      LOG_DIR=/var/log/fnplat
      RUN_DIR=/run/fnplat
      PROJECT_ID=${FNPLAT_PROJECT_ID:-local}
      ;;
    e2e)
      GATEWAY_PORT=18080
      ADMIN_BASE=18080
      DB_NAME=fnplat_e2e
      VHOST=fnplat-e2e
      DATA_DIR=/var/lib/fnplat/e2e
      STORAGE_DIR=/var/lib/fnplat/e2e/storage
      WORK_DIR=/var/lib/fnplat/e2e/work
      LOG_DIR=/var/log/fnplat/e2e
      RUN_DIR=/run/fnplat/e2e
      PROJECT_ID=e2e
      ;;
    *) die "unknown profile '$PROFILE' (up|e2e)" ;;
  esac
  ENDPOINT="http://127.0.0.1:$GATEWAY_PORT/v1"
  local vhost_enc=${VHOST//\//%2f}
  DATABASE_URL="postgres://$DB_USER:$DB_PASSWORD@$PG_HOST:$PG_PORT/$DB_NAME"
  AMQP_URL="amqp://$AMQP_USER:$AMQP_PASSWORD@127.0.0.1:5672/$vhost_enc"
  KEY_FILE=$DATA_DIR/api-key
}

admin_port() {
  case "$1" in
    api-gateway) echo "$GATEWAY_PORT" ;;
    builder-worker) echo $((ADMIN_BASE + 1)) ;;
    executor-worker) echo $((ADMIN_BASE + 2)) ;;
    scheduler) echo $((ADMIN_BASE + 3)) ;;
  esac
}

# The API key: generated once per profile and kept in $DATA_DIR/api-key (mode 600).
api_key() {
  if [ ! -s "$KEY_FILE" ]; then
    mkdir -p "$DATA_DIR"
    (umask 077; printf 'standard_%s\n' "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >"$KEY_FILE")
  fi
  tr -d '\n' <"$KEY_FILE"
}

# The HS256 secret of user JWTs (X-Appwrite-JWT): generated once per profile in $DATA_DIR/jwt-secret.
jwt_secret() {
  local f=$DATA_DIR/jwt-secret
  if [ ! -s "$f" ]; then
    mkdir -p "$DATA_DIR"
    (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$f")
  fi
  tr -d '\n' <"$f"
}

# Environment of one service (printed as NAME=value lines, consumed by `env`).
service_env() {
  local svc=$1 key
  key=$(api_key)
  echo "RUST_LOG=${RUST_LOG:-info}"
  echo "NO_COLOR=1"
  echo "LOG_FORMAT=${LOG_FORMAT:-pretty}"
  case "$svc" in
    api-gateway)
      echo "GATEWAY__HTTP__HOST=127.0.0.1"
      echo "GATEWAY__HTTP__PORT=$GATEWAY_PORT"
      echo "GATEWAY__DATABASE__URL=$DATABASE_URL"
      echo "GATEWAY__AMQP__URL=$AMQP_URL"
      echo "GATEWAY__STORAGE__DIR=$STORAGE_DIR"
      echo "GATEWAY__AUTH__PROJECT_ID=$PROJECT_ID"
      echo "GATEWAY__AUTH__API_KEY=$key"
      echo "GATEWAY__AUTH__JWT_SECRET=$(jwt_secret)"
      echo "GATEWAY__PUBLIC_ENDPOINT=$ENDPOINT"
      # e2e: seconds-level CRON and near scheduledAt times, so the scheduler tests run in seconds.
      if [ "$PROFILE" = e2e ]; then
        echo "GATEWAY__SCHEDULES__ALLOW_SECONDS=true"
        echo "GATEWAY__SCHEDULES__MIN_SCHEDULED_AT_SECONDS=5"
      fi
      # Installed runtime images, as written by scripts/build-images.sh (one id per line).
      local rt_file=${FNPLAT_RUNTIMES_FILE:-/var/lib/fnplat/runtimes}
      if [ -s "$rt_file" ]; then echo "GATEWAY__RUNTIMES=$(grep -v '^$' "$rt_file" | paste -sd, -)"; fi
      ;;
    builder-worker)
      echo "BUILDER__AMQP__URL=$AMQP_URL"
      echo "BUILDER__STORAGE__DIR=$STORAGE_DIR"
      echo "BUILDER__ADMIN__HOST=127.0.0.1"
      echo "BUILDER__ADMIN__PORT=$(admin_port builder-worker)"
      ;;
    executor-worker)
      echo "EXECUTOR__AMQP__URL=$AMQP_URL"
      echo "EXECUTOR__STORAGE__DIR=$STORAGE_DIR"
      echo "EXECUTOR__ADMIN__HOST=127.0.0.1"
      echo "EXECUTOR__ADMIN__PORT=$(admin_port executor-worker)"
      echo "EXECUTOR__WORK_DIR=$WORK_DIR"
      # The executor removes, at start, every runtime container labelled with its node name: one
      # node name per profile keeps the e2e stack from removing the containers of `make up`.
      echo "EXECUTOR__NODE=$(hostname)-fnplat-$PROFILE"
      echo "EXECUTOR__IDLE_TIMEOUT_SECONDS=${FNPLAT_IDLE_TIMEOUT_SECONDS:-600}"
      ;;
    scheduler)
      echo "SCHEDULER__AMQP__URL=$AMQP_URL"
      echo "SCHEDULER__ADMIN__HOST=127.0.0.1"
      echo "SCHEDULER__ADMIN__PORT=$(admin_port scheduler)"
      echo "SCHEDULER__GATEWAY__URL=http://127.0.0.1:$GATEWAY_PORT"
      echo "SCHEDULER__GATEWAY__PROJECT_ID=$PROJECT_ID"
      echo "SCHEDULER__GATEWAY__API_KEY=$key"
      ;;
  esac
}

pid_of() {
  local f=$RUN_DIR/$1.pid pid
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

ready() {
  curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$(admin_port "$1")/health/readyz" 2>/dev/null
}

tail_logs() {
  local n=${1:-40} svc
  for svc in "${SERVICES[@]}"; do
    [ -f "$LOG_DIR/$svc.log" ] || continue
    printf '\n----- %s (last %s lines of %s) -----\n' "$svc" "$n" "$LOG_DIR/$svc.log" >&2
    tail -n "$n" "$LOG_DIR/$svc.log" >&2
  done
}

# Starts one service detached. The pid file is written by the process itself just before it execs
# the binary, so it is the real service pid whatever job-control mode the caller is in.
start_one() {
  local svc=$1 bin=$BIN_DIR/$1 envs=()
  [ -x "$bin" ] || die "$bin not found: run 'cargo build --workspace --bins' first"
  if pid_of "$svc" >/dev/null; then
    die "$svc already running (pid $(pid_of "$svc")); run 'scripts/stack.sh stop $PROFILE' first"
  fi
  mapfile -t envs < <(service_env "$svc")
  rm -f "$RUN_DIR/$svc.pid"
  : >"$LOG_DIR/$svc.log"
  # The wrapper closes every inherited descriptor above 2 (a pipe of make's or CI's would otherwise
  # stay open for the life of the service), records its pid and execs the binary.
  # shellcheck disable=SC2016
  (cd "$ROOT" && env "${envs[@]}" setsid -f bash -c '
      for p in /proc/$$/fd/*; do fd=${p##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
      echo $$ >"$0"; exec "$@"' "$RUN_DIR/$svc.pid" "$bin" </dev/null >>"$LOG_DIR/$svc.log" 2>&1)
  local i
  for i in $(seq 1 50); do
    [ -s "$RUN_DIR/$svc.pid" ] && break
    sleep 0.1
  done
  [ -s "$RUN_DIR/$svc.pid" ] || die "$svc did not start"
}

wait_ready() {
  local svc=$1 deadline=$((SECONDS + READY_TIMEOUT))
  while ! ready "$svc"; do
    if ! pid_of "$svc" >/dev/null; then
      log "$svc exited during start-up"
      tail -n 60 "$LOG_DIR/$svc.log" >&2 || true
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$svc not ready after ${READY_TIMEOUT}s (GET http://127.0.0.1:$(admin_port "$svc")/health/readyz)"
      tail -n 60 "$LOG_DIR/$svc.log" >&2 || true
      return 1
    fi
    sleep 0.3
  done
  log "$svc ready (pid $(pid_of "$svc"), http://127.0.0.1:$(admin_port "$svc"))"
}

cmd_start() {
  profile "${1:-up}"
  mkdir -p "$LOG_DIR" "$RUN_DIR" "$STORAGE_DIR" "$WORK_DIR"
  api_key >/dev/null
  local t0=$SECONDS svc
  # The gateway first: it runs the migrations and declares the topology the workers use.
  start_one api-gateway
  if ! wait_ready api-gateway; then cmd_stop "$PROFILE"; exit 1; fi
  for svc in builder-worker executor-worker scheduler; do start_one "$svc"; done
  for svc in builder-worker executor-worker scheduler; do
    if ! wait_ready "$svc"; then cmd_stop "$PROFILE"; exit 1; fi
  done
  log "stack '$PROFILE' up in $((SECONDS - t0))s; logs in $LOG_DIR"
}

cmd_stop() {
  profile "${1:-up}"
  local svc pid pids=() deadline
  for svc in "${SERVICES[@]}"; do
    if pid=$(pid_of "$svc"); then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$svc:$pid")
    fi
  done
  [ ${#pids[@]} -gt 0 ] || { rm -f "$RUN_DIR"/*.pid 2>/dev/null; return 0; }
  log "stopping ${pids[*]}"
  deadline=$((SECONDS + STOP_TIMEOUT))
  for entry in "${pids[@]}"; do
    svc=${entry%%:*}; pid=${entry##*:}
    while kill -0 "$pid" 2>/dev/null; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        log "$svc (pid $pid) still running after ${STOP_TIMEOUT}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
    rm -f "$RUN_DIR/$svc.pid"
  done
  log "stack '$PROFILE' stopped"
}

cmd_status() {
  profile "${1:-up}"
  local svc pid state rc=0
  for svc in "${SERVICES[@]}"; do
    if pid=$(pid_of "$svc"); then
      if ready "$svc"; then state=ready; else state="running, not ready"; rc=1; fi
      printf '%-16s pid %-7s %-20s http://127.0.0.1:%s\n' "$svc" "$pid" "$state" "$(admin_port "$svc")"
    else
      printf '%-16s %s\n' "$svc" stopped; rc=1
    fi
  done
  return $rc
}

cmd_env() {
  profile "${1:-up}"
  printf 'E2E_ENDPOINT=%s\nE2E_PROJECT=%s\nE2E_KEY=%s\n' "$ENDPOINT" "$PROJECT_ID" "$(api_key)"
  printf 'E2E_JWT_SECRET=%s\n' "$(jwt_secret)"
}

# `scripts/stack.sh admin <up|e2e> create-project <id>` / `create-key --project <id> --scopes a,b`:
# the gateway's admin command with the profile's database settings (prints the key secret).
cmd_admin() {
  local envs=()
  mapfile -t envs < <(service_env api-gateway)
  [ -x "$BIN_DIR/api-gateway" ] || die "$BIN_DIR/api-gateway not found: run 'cargo build --workspace --bins' first"
  (cd "$ROOT" && env "${envs[@]}" RUST_LOG=warn "$BIN_DIR/api-gateway" admin "$@")
}

cmd_e2e_resources() {
  profile e2e
  log "recreating database $DB_NAME, vhost $VHOST, $DATA_DIR"
  PGOPTIONS='-c client_min_messages=warning' PGPASSWORD=$DB_PASSWORD dropdb -h $PG_HOST -p "$PG_PORT" -U $DB_USER --if-exists --force "$DB_NAME"
  PGPASSWORD=$DB_PASSWORD createdb -h $PG_HOST -p "$PG_PORT" -U $DB_USER -O $DB_USER "$DB_NAME"
  rabbitmqctl -q delete_vhost "$VHOST" >/dev/null 2>&1 || true
  rabbitmqctl -q add_vhost "$VHOST" >/dev/null
  rabbitmqctl -q set_permissions -p "$VHOST" "$AMQP_USER" '.*' '.*' '.*' >/dev/null
  rm -rf "$STORAGE_DIR" "$WORK_DIR"
  mkdir -p "$STORAGE_DIR" "$WORK_DIR" "$LOG_DIR"
  rm -f "$KEY_FILE"   # a fresh key per run
  rm -f "$DATA_DIR/jwt-secret"
}

cmd_e2e_cleanup() {
  profile e2e
  PGOPTIONS='-c client_min_messages=warning' PGPASSWORD=$DB_PASSWORD dropdb -h $PG_HOST -p "$PG_PORT" -U $DB_USER --if-exists --force "$DB_NAME" || true
  rabbitmqctl -q delete_vhost "$VHOST" >/dev/null 2>&1 || true
}

# make up: everything, then follow the logs in the foreground until Ctrl-C.
cmd_up() {
  profile up
  if [ "${FNPLAT_SKIP_SETUP:-0}" != 1 ]; then
    local pg_line
    pg_line=$("$ROOT/scripts/infra-up.sh" | grep '^FNPLAT_PG_PORT=' || true)
    [ -n "$pg_line" ] && PG_PORT=${pg_line#FNPLAT_PG_PORT=} && profile up
    if [ -x "$ROOT/scripts/build-images.sh" ]; then
      "$ROOT/scripts/build-images.sh"
    else
      log "WARNING: scripts/build-images.sh not found: runtime images are not built"
    fi
    log "building the services (cargo build --workspace --bins)"
    (cd "$ROOT" && cargo build --workspace --bins)
  fi

  local tails=()
  on_exit() {
    # Stop the services whatever happens to our output (a closed pipe must not stop the cleanup).
    set +e
    trap '' PIPE INT TERM
    trap - EXIT
    [ ${#tails[@]} -eq 0 ] || kill "${tails[@]}" 2>/dev/null || true
    echo >&2
    cmd_stop up
  }
  trap on_exit EXIT
  trap 'exit 0' INT TERM   # Ctrl-C is the normal way to stop
  cmd_start up

  cat <<EOF

  fnplat is up
    endpoint    $ENDPOINT
    project id  $PROJECT_ID
    api key     $(api_key)
    (key file $KEY_FILE, logs $LOG_DIR/<service>.log)

  Ctrl-C stops the services.

EOF
  local svc
  for svc in "${SERVICES[@]}"; do
    tail -n 0 -F --pid=$$ "$LOG_DIR/$svc.log" 2>/dev/null | sed -u "s/^/$(printf '%-16s|' "$svc") /" &
    tails+=($!)
  done
  # Watch the services; if one dies, show why and stop the rest.
  while true; do
    for svc in "${SERVICES[@]}"; do
      if ! pid_of "$svc" >/dev/null; then
        sleep 0.5
        log "$svc exited unexpectedly"
        tail -n 40 "$LOG_DIR/$svc.log" >&2 || true
        exit 1
      fi
    done
    sleep 2 &
    wait $! || true
  done
}

main() {
  local cmd=${1:-}
  shift || true
  case "$cmd" in
    up) cmd_up ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    logs) profile "${1:-up}"; tail_logs "${2:-60}" ;;
    env) cmd_env "$@" ;;
    key) profile "${1:-up}"; api_key; echo ;;
    admin) profile "${1:-up}"; shift || true; cmd_admin "$@" ;;
    e2e-resources) cmd_e2e_resources ;;
    e2e-cleanup) cmd_e2e_cleanup ;;
    *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

main "$@"
