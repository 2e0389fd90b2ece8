#!/usr/bin/env bash
# The main job, end to end on this machine: build base images from Debian packages, serve them from a
# gantry registry on loopback, start the engine with that registry as its Docker Hub mirror, then pull
# and list images and run containers with the real docker CLI (or the gantry CLI when docker is absent).
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/gantry-demo.XXXXXX)
pids=()
cleanup() {
  if [ -S "$work/gantry.sock" ]; then
    ids=$(DOCKER_HOST="unix://$work/gantry.sock" ./bin/gantry ps -aq 2>/dev/null || true)
    [ -n "$ids" ] && DOCKER_HOST="unix://$work/gantry.sock" ./bin/gantry rm -f $ids >/dev/null 2>&1 || true
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
echo "== registry on 127.0.0.1:$port"
./bin/gantry registry serve --addr "127.0.0.1:$port" --data-root "$work/registry" --log-level warn &
pids+=($!)
echo "== base images from Debian packages"
node --import tsx scripts/make-base-images.ts --push "127.0.0.1:$port" --images busybox,node
echo "== engine"
./bin/gantry daemon -H "unix://$work/gantry.sock" --data-root "$work/data" --exec-root "$work/run" --registry-mirror "http://127.0.0.1:$port" --log-level warn &
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
echo "== demo finished; everything it started is being cleaned up"
