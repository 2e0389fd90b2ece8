# Gantry: `make demo` and `make test` each set up a fresh Debian 12 machine themselves (apt and npm),
# then run the demo or the whole test suite.

SHELL := /bin/bash
APT_PACKAGES := skopeo docker-registry busybox-static attr crun runc conmon tini \
	containernetworking-plugins iptables nftables iproute2 redis-server curl ca-certificates gcc libc6-dev etcd-server openssl \
	python3-kubernetes tmux conntrack prometheus chromium
# Peers only the benchmarks compare with.
BENCH_APT_PACKAGES := buildah
APT_STAMP := node_modules/.apt-$(shell echo $(APT_PACKAGES) | md5sum | cut -c1-12)

.PHONY: all deps apt npm build demo test check typecheck lint format format-check unit e2e bench clean

all: build

apt: $(APT_STAMP)
$(APT_STAMP):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null
	@mkdir -p node_modules && touch $@

npm:
	npm ci --no-audit --no-fund

build:
	npm run build

deps: npm apt build

demo: deps
	bash scripts/demo.sh

typecheck:
	npm run typecheck

lint:
	npm run lint

# Prettier, line width 120 (.prettierrc.json); `make format` rewrites, `make check` only reports.
format:
	npm run --silent format

format-check:
	npm run --silent format:check

check: typecheck lint format-check

test: deps
	bash scripts/run-tests.sh

bench: deps
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BENCH_APT_PACKAGES) >/dev/null
	node --import tsx bench/pull-push.ts
	node --import tsx bench/run.ts
	node --import tsx bench/network.ts
	node --import tsx bench/build.ts
	node --import tsx bench/apiserver.ts
	node --import tsx bench/cluster.ts
	node --import tsx bench/scheduler.ts
	node --import tsx bench/multinode.ts
	node --import tsx bench/workloads.ts
	node --import tsx bench/storage.ts
	node --import tsx bench/podio.ts

clean:
	rm -rf dist
