#!/usr/bin/env node
// Benchmarks against real peers (not part of `make test`). Needs root.
//   node bench/run.mjs datapath [--json FILE]   B1: pod-to-pod TCP, our datapath vs plain veth routing
//   node bench/run.mjs cni      [--json FILE]   B6: CNI ADD/DEL latency, cilium-cni vs ptp + host-local
//   node bench/run.mjs lab      [--json FILE]   lab: helm install -> Ready; pod start latency, ours vs ptp
// Tunables (environment): see bench/README.md.
import { benchDatapath } from './datapath.mjs';
import { benchCni } from './cni.mjs';
import { benchLab } from './lab.mjs';

const [which, ...rest] = process.argv.slice(2);
const jsonIdx = rest.indexOf('--json');
const json = jsonIdx >= 0 ? rest[jsonIdx + 1] : undefined;
const benches = { datapath: benchDatapath, cni: benchCni, lab: benchLab };
const fn = benches[which ?? ''];
if (!fn) {
  console.error('usage: node bench/run.mjs datapath|cni|lab [--json FILE]');
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  console.error('bench: needs root (creates network namespaces, veths, bpffs mounts)');
  process.exit(2);
}
try {
  await fn(json === undefined ? {} : { json });
} catch (e) {
  console.error(`bench ${which}: ${e instanceof Error ? e.message : String(e)}`);
  if (e && typeof e === 'object' && 'code' in e) console.error(`code: ${e.code}`);
  process.exit(1);
}
