# cilium-ts: every target installs what it needs, idempotently.
SHELL := /bin/bash
.PHONY: all deps node build bpf bin go-tools typecheck test test-bpf test-unit demo bench-datapath bench-cni bench-lab clean test-lab lab-up-bare lab lab-down

all: build

deps:
	@./scripts/install-deps.sh

node_modules/.package-lock.json: package-lock.json package.json
	npm ci --no-audit --no-fund
	@touch $@

node: deps node_modules/.package-lock.json

bpf: deps
	$(MAKE) -C bpf

bin: node
	node scripts/build.mjs

build: bpf bin

# Upstream Go tools from the Go module proxy (cnitool, reference CNI plugins), cached under ~/.cache/cilium-ts.
go-tools:
	@./scripts/build-go-tools.sh >/dev/null

typecheck: node
	npx tsc -p tsconfig.json

test-bpf: bpf
	$(MAKE) -C bpf test

test-unit: build go-tools
	node scripts/run-tests.mjs

# The README's test command: type-check, datapath tests, every vitest suite (unit, kernel, CNI, agent), then
# the lab suites on the real control plane.
test: build typecheck test-bpf test-unit test-lab

# Lab tests (need root and the upstream binaries, built from the Go proxy and cached by lab/build-upstream.sh).
test-lab: build
	./lab/build-upstream.sh >/dev/null
	node scripts/run-tests.mjs --config lab/vitest.config.ts

# The README's lab: 2 nodes, cilium-ts installed with Helm, a demo app across both nodes; left running.
lab: build
	./scripts/lab.sh

lab-down:
	./scripts/lab.sh down

# A lab with no CNI installed: control plane, CoreDNS, LAB_NODES nodes with their lab kubelets.
LAB_NAME ?= demo
LAB_NODES ?= 2
lab-up-bare: build
	./lab/build-upstream.sh >/dev/null
	bin/cilium-lab up --name $(LAB_NAME) --nodes $(LAB_NODES)
	@echo 'eval "$$(bin/cilium-lab env --name $(LAB_NAME))"; kubectl get nodes   # bin/cilium-lab down --name $(LAB_NAME) to remove it'

demo: build
	node scripts/demo.mjs $(DEMO_ARGS)

bench-datapath: build
	@./scripts/install-deps.sh --bench
	node bench/run.mjs datapath

bench-cni: build go-tools
	node bench/run.mjs cni

bench-lab: build go-tools
	node bench/run.mjs lab

.PHONY: bench-services
bench-services: build
	./scripts/build-kube-proxy.sh
	node bench/services.mjs

clean:
	rm -rf bin bpf/build
