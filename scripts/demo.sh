#!/usr/bin/env bash
# The main job, end to end on this machine: build base images from Debian packages, serve them from a
# gantry registry on loopback, start the engine with that registry as its Docker Hub mirror, then pull
# and list images, run and build containers with the real docker CLI (or the gantry CLI when docker is
# absent); then bring up a four-node cluster on this machine (`gantry cluster up`) and follow the
# Kubernetes walk-through with kubectl: workers labelled, kubia from the host's registry exposed as a
# LoadBalancer and scaled to three pods across the workers, answering through its EXTERNAL-IP.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/gantry-demo.XXXXXX)
pids=()
# Clusters of this demo are found here, not among the user's.
export GANTRY_CLUSTER_INDEX="$work/clusters"
cleanup() {
  # The cluster first: every node, namespace, route and rule it made.
  [ -f "$work/cluster/cluster.json" ] && ./bin/gantry cluster down --name demo >/dev/null 2>&1 || true
  if [ -S "$work/gantry.sock" ]; then
    ids=$(DOCKER_HOST="unix://$work/gantry.sock" ./bin/gantry ps -aq 2>/dev/null || true)
    [ -n "$ids" ] && DOCKER_HOST="unix://$work/gantry.sock" ./bin/gantry rm -f $ids >/dev/null 2>&1 || true
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # The demo's bridge and its NAT/forward rules (tagged with the bridge's name).
  ip link del gantrydemo0 2>/dev/null || true
  for t in nat filter; do
    iptables-save -t "$t" 2>/dev/null | tr -d '"' | grep -- '--comment gantry:gantrydemo0' | sed 's/^-A //' | while read -r rule; do iptables -w -t "$t" -D $rule || true; done
  done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
port=$(free_port)
echo "== registry on 127.0.0.1:$port"
./bin/gantry registry serve --addr "127.0.0.1:$port" --data-root "$work/registry" --log-level warn &
pids+=($!)
echo "== base images from Debian packages"
node --import tsx scripts/make-base-images.ts --push "127.0.0.1:$port" --images busybox,node
echo "== engine"
./bin/gantry daemon -H "unix://$work/gantry.sock" --data-root "$work/data" --exec-root "$work/run" --registry-mirror "http://127.0.0.1:$port" --bridge gantrydemo0 --bip 10.199.77.1/24 --log-level warn &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/gantry.sock" ] && break; sleep 0.1; done
export DOCKER_HOST="unix://$work/gantry.sock" DOCKER_CONFIG="$work/docker-config"
cli=docker
command -v docker >/dev/null || cli=./bin/gantry
echo "== $cli pull busybox"
$cli pull busybox
echo "== $cli pull node:20"
$cli pull node:20
echo "== $cli images"
$cli images
echo "== $cli history node:20"
$cli history node:20
echo "== $cli run busybox echo \"Hello world\""
$cli run --rm busybox echo "Hello world"
echo "== $cli run -d --name web -h k8s-for-beginners busybox httpd -f -p 8080, then exec and logs"
$cli run -d --name web -h k8s-for-beginners busybox httpd -f -v -p 8080 -h /etc
$cli run --rm --net container:web busybox wget -qO- localhost:8080/hostname
$cli exec web ps
$cli ps
$cli logs web
$cli rm -f web
echo "== $cli build -t kubia (FROM node:20, ADD app.js, ENTRYPOINT node app.js), run -p, curl"
mkdir -p "$work/kubia"
cat > "$work/kubia/app.js" <<'APP'
const http = require('http');
const os = require('os');
console.log("Kubia server starting...");
http.createServer((req, res) => { res.writeHead(200); res.end("You've hit " + os.hostname() + "\n"); }).listen(8080);
APP
printf 'FROM node:20\nADD app.js /app.js\nENTRYPOINT ["node", "app.js"]\n' > "$work/kubia/Dockerfile"
$cli build -t kubia "$work/kubia"
webport=$(free_port)
$cli run --name kubia-container -p "$webport:8080" -d kubia
for _ in $(seq 50); do curl -s "localhost:$webport" && break; sleep 0.2; done
$cli ps
$cli rm -f kubia-container
echo "== a four-node cluster on this machine: one network namespace per node, each with its engine and agent"
$cli tag kubia "127.0.0.1:$port/kubia"
$cli push "127.0.0.1:$port/kubia" >/dev/null
# The registry on the host's loopback is every node's localhost:$port, so the image keeps its name.
./bin/gantry cluster up --nodes 4 --name demo --data-dir "$work/cluster" --host-registry-port "$port" \
  --registry-mirror "http://127.0.0.1:$port" --no-kubeconfig
if command -v kubectl >/dev/null; then
  export KUBECONFIG="$work/cluster/kubeconfig.yaml"
  k() { echo "\$ kubectl $*"; kubectl "$@"; }
  k get nodes
  for worker in demo-m02 demo-m03 demo-m04; do k label node "$worker" node-role.kubernetes.io/worker=; done
  k get nodes
  k create deployment kubia --image="localhost:$port/kubia"
  k expose deployment kubia --type=LoadBalancer --name kubia-http --port=8080
  for _ in $(seq 100); do
    ip=$(kubectl get svc kubia-http -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
    [ -n "$ip" ] && break
    sleep 0.2
  done
  k get svc kubia-http
  k scale deployment kubia --replicas=3
  k rollout status deployment/kubia --timeout=120s
  k get pods -o wide
  echo "\$ curl $ip:8080 (five times: the LoadBalancer spreads requests over the pods on three nodes)"
  for _ in 1 2 3 4 5; do curl -s --max-time 5 "$ip:8080"; done
  k logs deployment/kubia
  k delete deployment kubia
fi
echo "== demo finished; everything it started is being cleaned up"
