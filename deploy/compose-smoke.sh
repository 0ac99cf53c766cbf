#!/usr/bin/env bash
# `make compose-smoke`: docker-compose.yml really running under podman, end to end.
#
# Installs podman, podman-compose, runc and debootstrap if missing, picks the images (the official ones,
# or local stand-ins built once and cached where they cannot be pulled), builds the services' image,
# brings the stack up in stages while running each health check itself (podman-compose 1.0.3 ignores
# depends_on conditions and podman runs health checks only on demand), sends a signed webhook and waits
# for the reply in the local sandbox, stops the orchestrator, sends a second webhook while it is down,
# starts it again and waits for that reply too, and tears everything down, on failure as well. In between,
# the local trial across containers: a message written in the operator API's simulator gets its reply in
# the simulator's chat (read from the sandbox in the sender's container), and the sandbox's status webhooks
# reach the ingress.
# Runs as root (rootful podman). Variables: PYTHON_IMAGE, POSTGRES_IMAGE, NATS_IMAGE (use these images;
# no stand-in), CONECTAPRO_IMAGE, DEBIAN_MIRROR, SMOKE_KEEP=1 (leave the stack up).
set -Eeuo pipefail
cd "$(dirname "$0")/.."

T0=$SECONDS
PROJECT=conectapro-smoke
LOG=$(mktemp /tmp/compose-smoke.XXXXXX.log)
PHASES=()
PHASE_START=$SECONDS
PHASE_NAME=""

say() { printf '[compose-smoke %4ds] %s\n' $((SECONDS - T0)) "$*"; }
run() { say "\$ $*"; "$@"; }
quiet() { say "\$ $* (output in $LOG)"; "$@" >>"$LOG" 2>&1; }
fail() { say "FAILED: $*"; exit 1; }
phase() {
    if [ -n "$PHASE_NAME" ]; then PHASES+=("$(printf '%-44s %4ds' "$PHASE_NAME" $((SECONDS - PHASE_START)))"); fi
    PHASE_NAME="$1"
    PHASE_START=$SECONDS
    [ -n "$1" ] && say "== $1"
    return 0
}

[ "$(id -u)" = 0 ] || fail "run as root: podman runs rootful here"

# --- tools -------------------------------------------------------------------------------------------
phase "tools"
# aardvark-dns: the containers find each other by service name.
missing=()
for package in podman podman-compose runc debootstrap aardvark-dns; do
    dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} from Debian"
    quiet apt-get update
    quiet env DEBIAN_FRONTEND=noninteractive apt-get install -y podman podman-compose runc debootstrap aardvark-dns
fi
say "$(podman --version), podman-compose $(podman-compose version 2>/dev/null | awk '/podman-compose/ {print $NF}'), runc $(runc --version | awk 'NR==1 {print $3}')"

# This VM refuses to raise RLIMIT_NOFILE/NPROC (podman's default ulimits) and crun fails on its hybrid
# cgroups: runc works.
CONF=/etc/containers/containers.conf
if ! grep -qs '^default_ulimits *= *\[\]' "$CONF" || ! grep -qs '^runtime *= *"runc"' "$CONF"; then
    if [ -s "$CONF" ] && [ ! -e "$CONF.before-compose-smoke" ]; then cp "$CONF" "$CONF.before-compose-smoke"; fi
    mkdir -p /etc/containers
    printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' >"$CONF"
    say "wrote $CONF (default_ulimits = [], runtime = runc)"
fi

# --- images ------------------------------------------------------------------------------------------
phase "images"
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_IMAGE=localhost/conectapro-standin-debian:bookworm-1
HOST_CA=/etc/ssl/certs/ca-certificates.crt

debian_base() {
    if podman image exists "$BASE_IMAGE"; then say "cached: $BASE_IMAGE"; return; fi
    local root
    root=$(mktemp -d /var/tmp/conectapro-debootstrap.XXXXXX)
    say "building $BASE_IMAGE with debootstrap from $DEBIAN_MIRROR (a few minutes, once)"
    quiet debootstrap --variant=minbase --include=ca-certificates,python3,python3-venv,wget \
        bookworm "$root" "$DEBIAN_MIRROR"
    # HTTPS from inside the containers goes through this machine's TLS proxy: trust what the host trusts.
    if [ -s "$HOST_CA" ]; then
        cp "$HOST_CA" "$root/etc/ssl/certs/host-ca-certificates.crt"
        cp "$HOST_CA" "$root/etc/ssl/certs/ca-certificates.crt"
    fi
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | podman import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/host-ca-certificates.crt' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/host-ca-certificates.crt' \
        --change 'ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/host-ca-certificates.crt' \
        --change 'CMD ["/bin/bash"]' \
        - "$BASE_IMAGE" >>"$LOG" 2>&1
    rm -rf "$root"
    say "built $BASE_IMAGE"
}

# A stand-in's tag is the hash of what builds it, so a changed Containerfile builds a new one.
standin() {
    local kind=$1 hash tag
    hash=$(cat "deploy/standins/$kind".* | sha256sum | cut -c1-12)
    tag="localhost/conectapro-standin-$kind:$hash"
    if podman image exists "$tag"; then say "cached: $tag" >&2; echo "$tag"; return; fi
    debian_base >&2
    say "building the $kind stand-in $tag" >&2
    quiet podman build --network host --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        -f "deploy/standins/$kind.Containerfile" -t "$tag" deploy/standins >&2
    echo "$tag"
}

# VAR set by the caller: that image, as it is. Otherwise the official default when it is here or can be
# pulled, else the local stand-in.
choose() {
    local var=$1 default=$2 kind=$3 chosen
    if [ -n "${!var:-}" ]; then
        chosen=${!var}
        podman image exists "$chosen" || run podman pull "$chosen" >&2 || fail "$var=$chosen cannot be pulled"
    elif podman image exists "$default" || timeout 120 podman pull -q "$default" >>"$LOG" 2>&1; then
        chosen=$default
    else
        say "$default cannot be pulled here: using a local stand-in" >&2
        chosen=$(standin "$kind")
    fi
    printf -v "$var" '%s' "$chosen"
    export "${var?}"
    say "$var=$chosen"
}
choose PYTHON_IMAGE docker.io/library/python:3.11-slim python
choose POSTGRES_IMAGE docker.io/library/postgres:17 postgres
choose NATS_IMAGE docker.io/library/nats:2.11-alpine nats
export CONECTAPRO_IMAGE=${CONECTAPRO_IMAGE:-localhost/conectapro:latest}

phase "build the services' image"
previous=$(podman image inspect --format '{{.Id}}' "$CONECTAPRO_IMAGE" 2>/dev/null || true)
quiet podman build --network host --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" -f deploy/Dockerfile \
    -t "$CONECTAPRO_IMAGE" .
# The image this one replaces would otherwise stay behind, untagged, at each change of the code.
if [ -n "$previous" ] && [ "$previous" != "$(podman image inspect --format '{{.Id}}' "$CONECTAPRO_IMAGE")" ]; then
    podman rmi "$previous" >>"$LOG" 2>&1 || true
fi
say "built $CONECTAPRO_IMAGE ($(podman image inspect --format '{{.Size}}' "$CONECTAPRO_IMAGE" | awk '{printf "%d MB", $1/1e6}'))"

# --- the stack ---------------------------------------------------------------------------------------
# The local trial's settings (no Meta credentials: the sender serves the sandbox).
set -a
# shellcheck source=local.env
. deploy/local.env
set +a
INGRESS_URL="http://127.0.0.1:${INGRESS_PORT:-8080}/webhook"
SANDBOX_URL="http://127.0.0.1:${SANDBOX_PORT:-8082}"
OPERATOR_URL="http://127.0.0.1:${OPERATOR_API_PORT:-8081}"

compose() { podman-compose --no-ansi -p "$PROJECT" -f docker-compose.yml "$@" >>"$LOG" 2>&1; }
container() { echo "${PROJECT}_$1_1"; }

teardown() {
    local status=$?
    trap - EXIT
    if [ "$status" != 0 ]; then
        say "something failed: the last lines of each container's log"
        for name in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'); do
            echo "----- $name ($(podman inspect --format '{{.State.Status}} exit={{.State.ExitCode}} restarts={{.RestartCount}}' "$name"))"
            podman logs --tail 15 "$name" 2>&1 | sed 's/^/    /'
        done
        echo "----- the last lines of $LOG"
        tail -n 25 "$LOG" | sed 's/^/    /'
    fi
    if [ "${SMOKE_KEEP:-0}" = 1 ]; then
        say "SMOKE_KEEP=1: the stack stays up (podman-compose -p $PROJECT down -v to remove it)"
    else
        phase "tear down"
        compose down -v || true
        podman network rm -f "${PROJECT}_default" >>"$LOG" 2>&1 || true
        left=$(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}' | wc -l)
        say "torn down (containers left: $left)"
    fi
    phase ""
    say "phases:"
    printf '    %s\n' "${PHASES[@]}"
    if [ "$status" = 0 ]; then say "PASSED in $((SECONDS - T0)) s"; else say "FAILED after $((SECONDS - T0)) s (log: $LOG)"; fi
    exit "$status"
}
trap teardown EXIT

# podman runs a health check only when asked: ask until it passes.
wait_healthy() {
    local service=$1 limit=${2:-180} name start
    name=$(container "$service")
    start=$SECONDS
    until podman healthcheck run "$name" >/dev/null 2>&1; do
        if ((SECONDS - start > limit)); then
            fail "$service not healthy after ${limit} s ($(podman inspect --format '{{.State.Status}}' "$name" 2>&1))"
        fi
        sleep 1
    done
    say "healthy: $service ($((SECONDS - start)) s)"
}

phase "clean up what an earlier run left"
compose down -v || true

phase "start postgres and nats"
say "\$ podman-compose -p $PROJECT up -d --no-build postgres nats"
compose up -d --no-build postgres nats
wait_healthy postgres
wait_healthy nats
nats_sync=$(grep -E '^\s*sync_interval:' deploy/nats-server.conf | awk '{print $2}')
say "nats JetStream sync_interval: $nats_sync; postgres synchronous_commit: $(podman exec "$(container postgres)" psql -h /var/run/postgresql -U conectapro -d conectapro -tAc 'show synchronous_commit' 2>/dev/null || echo '?')"

phase "migrate"
say "\$ podman-compose -p $PROJECT up -d --no-build migrate"
compose up -d --no-build migrate
code=$(podman wait "$(container migrate)")
[ "$code" = 0 ] || fail "migrate exited with $code"
say "migrate: $(podman logs "$(container migrate)" 2>&1 | grep -m1 'migrations applied' || echo 'exit 0')"

phase "start every service"
say "\$ podman-compose -p $PROJECT up -d --no-build"
compose up -d --no-build
wait_healthy ingress
wait_healthy sender
wait_healthy operator_api
for service in orchestrator closer projections llm_adapter; do
    state=$(podman inspect --format '{{.State.Status}}' "$(container "$service")")
    [ "$state" = running ] || fail "$service is $state"
done
podman ps --filter "label=io.podman.compose.project=$PROJECT" --format '    {{.Names}}\t{{.Status}}\t{{.Image}}'

phase "a signed webhook, its reply in the sandbox"
CLIENT=(python3 deploy/compose_smoke_client.py)
FIRST=569$(printf '%08d' $((RANDOM * RANDOM % 100000000)))
SECOND=569$(printf '%08d' $((RANDOM * RANDOM % 100000000)))
run "${CLIENT[@]}" send "$INGRESS_URL" "$WHATSAPP_APP_SECRET" "$FIRST" "hola"
run "${CLIENT[@]}" replies "$SANDBOX_URL" "$FIRST" 1 120 || fail "no reply to the first webhook"
say "unsigned webhook refused: HTTP $(python3 -c "import sys, urllib.request as u, urllib.error as e
try: u.urlopen(u.Request(sys.argv[1], data=b'{}', method='POST'), timeout=10); print(200)
except e.HTTPError as error: print(error.code)" "$INGRESS_URL")"
status=$(python3 -c "import sys, urllib.request as u
print(u.urlopen(u.Request(sys.argv[1] + '/v1/leads', headers={'Authorization': 'Bearer ' + sys.argv[2]}), timeout=10).status)" \
    "$OPERATOR_URL" "$OPERATOR_API_TOKEN" 2>/dev/null || echo "not 200")
say "operator API /v1/leads with the token: HTTP $status"

phase "local trial: simulator, status webhooks"
THIRD=569$(printf '%08d' $((RANDOM * RANDOM % 100000000)))
run "${CLIENT[@]}" simulate "$OPERATOR_URL" "$THIRD" "hola" 120 || fail "the simulator showed no reply"
run "${CLIENT[@]}" statuses "${INGRESS_URL%/webhook}" 2 60 || fail "the sandbox's status webhooks did not reach the ingress"

phase "restart the orchestrator, nothing lost"
say "\$ podman stop $(container orchestrator)"
podman stop "$(container orchestrator)" >/dev/null
run "${CLIENT[@]}" send "$INGRESS_URL" "$WHATSAPP_APP_SECRET" "$SECOND" "hola" || fail "ingress refused while the orchestrator was down"
sleep 5
waiting=$("${CLIENT[@]}" count "$SANDBOX_URL" "$SECOND")
say "replies to $SECOND while the orchestrator is down: $waiting (the message waits in JetStream)"
[ "$waiting" = 0 ] || fail "a reply came while the orchestrator was stopped"
say "\$ podman start $(container orchestrator)"
podman start "$(container orchestrator)" >/dev/null
run "${CLIENT[@]}" replies "$SANDBOX_URL" "$SECOND" 1 120 || fail "the webhook sent while the orchestrator was down got no reply"
run "${CLIENT[@]}" replies "$SANDBOX_URL" "$FIRST" 1 5 >/dev/null || fail "the first reply is gone"
say "restarts of the other services: $(for s in ingress sender closer projections operator_api; do
    printf '%s=%s ' "$s" "$(podman inspect --format '{{.RestartCount}}' "$(container "$s")")"; done)"
