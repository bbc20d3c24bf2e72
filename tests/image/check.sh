#!/usr/bin/env bash
# The container image, as an operator runs it: built by scripts/image.sh from the package of this build
# (scripts/package.sh --no-build), checked for what it must not hold (a compiler, development packages,
# the build tree), then run with podman against a fresh database of $PGTRICKLE_TEST_POSTGRES_URL: as
# uid 10001 it installs the SQL and relays the demo's rows, its HEALTHCHECK reports healthy, and
# `podman stop -t 30` drains it and it exits 0 in time. Then the Kubernetes Deployment and Secret
# (deploy/kubernetes/) under `podman kube play`: both replicas run and share the pipelines.
# Needs root (podman's store, debootstrap for the base image when no registry is reachable); exits 77
# (skipped) otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "image check: needs root (podman, debootstrap); skipped"; exit 77; }
url=${PGTRICKLE_TEST_POSTGRES_URL:?the test PostgreSQL (scripts/test.sh starts it)}
work=$(mktemp -d /tmp/pgtrickle-relay-image-check.XXXXXX)
chmod 755 "$work"
db="imagecheck_$$"
name="pgtrickle-relay-check-$$"
podman() { "$root/scripts/image.sh" podman "$@"; }
kube=""
run_pid=""
cleanup() {
  [ -z "$kube" ] || podman kube down "$kube" >/dev/null 2>&1 || true
  podman secret rm "$name" >/dev/null 2>&1 || true
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  [ -z "$run_pid" ] || wait "$run_pid" 2>/dev/null || true
  psql -X -q "$url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
. "$root/tests/support/demo-pipeline.sh"
started_at=$SECONDS
for tool in podman buildah runc; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh installs it)"
done

step "Building the image from this build's package (scripts/image.sh --deb)"
deb=$("$root/scripts/package.sh" --no-build "$work" 2>"$work/package.log") || { cat "$work/package.log"; fail "scripts/package.sh"; }
version=$(dpkg-deb -f "$deb" Version)
version=${version%%-*}  # the relay's own (the package's names the release too), which tags the image
t0=$SECONDS
tag=$("$root/scripts/image.sh" --deb "$deb" 2>"$work/image.log") || { tail -n 40 "$work/image.log"; fail "scripts/image.sh"; }
[[ "$tag" == "pgtrickle-relay:$version-"* ]] || fail "the image is tagged $tag, not with version $version and a revision"
for t in "pgtrickle-relay:$version" pgtrickle-relay:latest; do
  [ "$(podman image inspect -f '{{.Id}}' "$t")" = "$(podman image inspect -f '{{.Id}}' "$tag")" ] || fail "$t is not $tag"
done
size=$(podman image inspect -f '{{.Size}}' "$tag")
echo "$tag built in $((SECONDS - t0)) s; $((size / 1000000)) MB"

step "What the image holds"
podman run --rm --network=host --no-healthcheck "$tag" --version | tee "$work/version"
head -n 1 "$work/version" | grep -Eq "^pgtrickle-relay $version \(git ${tag##*:"$version"-}\)$" || fail "--version does not match the tag $tag"
grep -q '^License: Apache-2.0' "$work/version" || fail "--version names no licence"
[ "$(podman image inspect -f '{{.Config.User}}' "$tag")" = 10001:10001 ] || fail "the image does not run as 10001:10001"
podman run --rm --network=host --no-healthcheck --entrypoint sh "$tag" -c '
  for c in gcc cc c++ g++ cpp clang clang++ ld as make cmake ninja; do command -v "$c" && exit 1; done
  [ ! -e /src ] && [ ! -e /out ] || { echo "a build tree: /src or /out"; exit 1; }
  ls /tmp/*.deb 2>/dev/null && exit 1
  dpkg-query -W -f "\${Package}\n" | grep -E -- "-dev(:|$)" && exit 1
  test -x /usr/bin/pgtrickle-relay && test -f /usr/share/doc/pgtrickle-relay/copyright' \
  || fail "the image holds a compiler, development packages or the build tree, or lacks the relay"
echo "no compiler, no development package, no build tree; /usr/bin/pgtrickle-relay and its copyright"

step "The image installs the SQL and relays the demo's rows (as uid 10001)"
demo_database "$url" "$db"
podman run --rm --network=host --no-healthcheck "$tag" install --postgres-url "$demo_url" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "pgtrickle-relay install"; }
demo_pipeline
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The health check's timer needs systemd; `podman healthcheck run` below runs it as the timer would.
: >"$work/messages.jsonl"; : >"$work/relay.log"
podman run --name "$name" --network=host --stop-timeout 30 --health-interval=disable \
  -e PGTRICKLE_RELAY_POSTGRES_URL="$demo_url" -e PGTRICKLE_RELAY_METRICS_ADDR="127.0.0.1:$port" \
  "$tag" >"$work/messages.jsonl" 2>"$work/relay.log" &
run_pid=$!
demo_relay_started "$run_pid" "$work/messages.jsonl" "$work/relay.log"
pid=$(podman inspect -f '{{.State.Pid}}' "$name")
[ "$(ps -o uid= -p "$pid" | tr -d ' ')" = 10001 ] && [ "$(ps -o comm= -p "$pid")" = pgtrickle-relay ] \
  || fail "the container's process $pid is not pgtrickle-relay as uid 10001"
demo_rows
demo_messages_relayed
echo "pgtrickle-relay runs as uid 10001 (pid $pid); 4 messages relayed: insert, insert, update, delete"

step "The image's HEALTHCHECK"
podman image inspect -f '{{.Config.Healthcheck.Test}}' "$tag" | grep -q '/health/ready' || fail "the image has no HEALTHCHECK on /health/ready"
podman healthcheck run "$name" || fail "podman healthcheck run: $(podman inspect -f '{{json .State.Health}}' "$name" 2>&1)"
[ "$(podman inspect -f '{{.State.Health.Status}}' "$name")" = healthy ] || fail "the container is not healthy"
echo "healthy: $(podman image inspect -f '{{.Config.Healthcheck.Test}}' "$tag")"

step "podman stop -t 30 drains the relay, which exits 0"
t0=$(date +%s%N)
podman stop -t 30 "$name" >/dev/null 2>"$work/stop.log" || { cat "$work/stop.log"; fail "podman stop"; }
took_ms=$((($(date +%s%N) - t0) / 1000000))
rc=0; wait "$run_pid" || rc=$?
run_pid=""
exit_code=$(podman inspect -f '{{.State.ExitCode}}' "$name")
[ "$exit_code" = 0 ] && [ "$rc" = 0 ] || { tail -n 20 "$work/relay.log"; fail "the container exited $exit_code (podman run: $rc)"; }
[ "$took_ms" -lt 30000 ] || fail "podman stop took $took_ms ms: the relay was killed at the stop timeout"
grep -q 'Received a stop signal; draining' "$work/relay.log" || fail "the relay did not log its drain"
echo "stopped in $took_ms ms (timeout 30 s), exit code 0"
podman rm "$name" >/dev/null 2>&1

step "The Kubernetes Deployment and Secret under podman kube play"
# The manifests as shipped, with this build's image and the fresh database, and what podman 4.3's
# kube play needs besides: the Secret as a podman secret holding its data as JSON (kube play cannot
# read a Secret it is given); no containerPort (podman would publish it on the host, where the two
# replicas' 9090 collide); probe ports by number (it resolves no port name); names of this check's
# own. Each pod has a network of its own (slirp4netns), where 10.0.2.2 is the host's loopback.
pod_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(p._replace(netloc=p.netloc.replace(p.hostname, "10.0.2.2", 1)).geturl())' "$demo_url")
python3 - "$root/deploy/kubernetes" "$name" "localhost/$tag" "$pod_url" "$work" <<'PY'
import base64, json, sys, yaml
manifests, name, image, url, work = sys.argv[1:]
deployment = yaml.safe_load(open(f"{manifests}/deployment.yaml"))
secret = yaml.safe_load(open(f"{manifests}/secret.yaml"))
secret["stringData"]["postgres-url"] = url
json.dump({k: base64.b64encode(v.encode()).decode() for k, v in secret["stringData"].items()}, open(f"{work}/secret.json", "w"))
deployment["metadata"]["name"] = name
pod = deployment["spec"]["template"]["spec"]
container = pod["containers"][0]
container["image"] = image
ports = {p["name"]: p["containerPort"] for p in container.pop("ports")}
for probe in ("livenessProbe", "readinessProbe"):
    get = container[probe]["httpGet"]
    get["port"] = ports.get(get["port"], get["port"])
for env in container["env"]:
    ref = env.get("valueFrom", {}).get("secretKeyRef")
    if ref: ref["name"] = name
for v in container["volumeMounts"] + pod["volumes"]:
    v["name"] = f"{name}-{v['name']}"
yaml.safe_dump(deployment, open(f"{work}/deployment.yaml", "w"))
PY
demo_sql -c "SELECT pgtrickle.set_relay_outbox('orders-to-stdout-2', config => '{\"stream_table\": \"orders\", \"sink_type\": \"stdout\"}'::jsonb)" >/dev/null
podman secret create "$name" "$work/secret.json" >/dev/null
kube="$work/deployment.yaml"
podman kube play --network slirp4netns:allow_host_loopback=true "$kube" >"$work/kube.log" 2>&1 || { cat "$work/kube.log"; fail "podman kube play"; }
pods=("$name-pod-0" "$name-pod-1")
for p in "${pods[@]}"; do
  [ "$(podman inspect -f '{{.State.Status}}' "$p-relay" 2>/dev/null)" = running ] || { podman ps -a; cat "$work/kube.log"; fail "$p-relay is not running"; }
done
shared() {  # shared <owners> <pipelines>: each pipeline of the group runs, the owners being that many relays
  demo_sql -At -c "SELECT count(DISTINCT owner) = $1 AND count(*) = $2 FROM pgtrickle.relay_pipeline_status
              WHERE relay_group_id = 'default' AND state = 'running' AND owner LIKE '$name-pod-%'" | grep -qx t
}
kube_wait() {  # kube_wait <seconds> <what> <command...>
  local until=$((SECONDS + $1)) what=$2; shift 2
  until "$@"; do
    [ "$SECONDS" -lt "$until" ] || {
      demo_sql -c 'TABLE pgtrickle.relay_pipeline_status'
      for p in "${pods[@]}"; do podman logs "$p-relay" 2>&1 | tail -n 5; done
      fail "$what"
    }
    sleep 0.5
  done
}
kube_wait 60 "the two replicas do not share the two pipelines" shared 2 2
demo_sql -c "SELECT pipeline, owner, state FROM pgtrickle.relay_pipeline_status ORDER BY pipeline"
for p in "${pods[@]}"; do
  pid=$(podman inspect -f '{{.State.Pid}}' "$p-relay")
  [ "$(ps -o uid= -p "$pid" | tr -d ' ')" = 10001 ] || fail "$p-relay does not run as uid 10001"
  [ "$(podman inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$p-relay")" = true ] || fail "$p-relay's root file system is writable"
  grep -q '^CapEff:[[:space:]]*0*$' "/proc/$pid/status" || fail "$p-relay has capabilities"
  podman exec "$p-relay" curl -fsS http://127.0.0.1:9090/health/ready >/dev/null || fail "$p is not ready"
  owned=$(podman exec "$p-relay" curl -sS http://127.0.0.1:9090/health | python3 -c 'import json, sys; print(json.load(sys.stdin)["pipelines_owned"])')
  [ "$owned" = 1 ] || fail "$p owns $owned pipelines, not 1"
  # The liveness probe, as podman made it a health check.
  podman healthcheck run "$p-relay" >/dev/null || fail "$p's liveness probe fails"
done
echo "2 replicas, each owning 1 of the 2 pipelines: ready, live, as uid 10001, read-only root, no capabilities"
t0=$SECONDS
# The relay container alone, as the kubelet stops it: the pod's network stays until it has exited.
podman stop -t 30 "${pods[0]}-relay" >/dev/null 2>&1
exit_code=$(podman inspect -f '{{.State.ExitCode}}' "${pods[0]}-relay")
[ "$exit_code" = 0 ] || { podman logs "${pods[0]}-relay" 2>&1 | tail -n 5; fail "${pods[0]}'s relay exited $exit_code when stopped"; }
kube_wait 30 "${pods[1]} did not take over the pipelines of the stopped replica" shared 1 2
echo "${pods[0]}'s relay stopped (exit 0); ${pods[1]} runs both pipelines $((SECONDS - t0)) s later"
podman kube down "$kube" >/dev/null 2>&1
kube=""
podman secret rm "$name" >/dev/null

echo "image check: $((SECONDS - started_at)) s"
