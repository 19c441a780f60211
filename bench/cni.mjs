// B6 (notes/performance-anchors.md): CNI ADD/DEL latency, ours vs the reference plugins.
//
//   ours  bin/cilium-cni, talking to bin/cilium-agent running in its own node netns
//   ptp     the reference `ptp` + `host-local` plugins (containernetworking/plugins, built from the Go module
//           proxy by scripts/build-go-tools.sh), in another node netns
//   bridge  the reference `bridge` (isGateway) + `host-local`, in a third node netns (BENCH_CNI_BRIDGE=0: off)
//
// Both are invoked exactly as a container runtime on the node does: CNI_* environment, config on stdin,
// from inside the node netns (nsenter; the same cost on both sides). Netns creation (`ip netns add`) is
// timed separately. Sequential: N pods (ADD one after another, then DEL), the two plugins interleaved pod by
// pod. Burst: 20 parallel ADDs then 20 parallel DELs, rounds alternating which plugin goes first.
import { writeFileSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  BenchError, cleanup, cniAsync, cniCall, cniSync, fmt, goTools, machineInfo, max, mean, median, netnsAdd, onCleanup,
  percentile, root, run, startAgent, suffix, table, timed, tmpDir,
} from './lib/common.mjs';

const N = Number(process.env.BENCH_CNI_N ?? 50);
const BURST = Number(process.env.BENCH_CNI_BURST ?? 20);
const ROUNDS = Number(process.env.BENCH_CNI_ROUNDS ?? 3);
const CNI_VERSION = '1.0.0';

const rnd = () => randomBytes(1)[0];

async function setupOurs(dir) {
  const node = `cts-c6o-${suffix}`;
  netnsAdd(node);
  run('ip', ['-n', node, 'link', 'set', 'lo', 'up']);
  // A /22: room for N sequential pods plus a burst even if DEL lagged.
  const cidr = `10.${200 + (rnd() % 50)}.${rnd() & 0xfc}.0/22`;
  const agent = await startAgent({ nodeNs: node, podCidr: cidr, dir, hostDevice: `c6h${suffix}` });
  return {
    name: 'ours', node, cidr,
    plugin: join(root, 'bin', 'cilium-cni'), cniPath: join(root, 'bin'),
    conf: { cniVersion: CNI_VERSION, name: `bench-cni-o-${suffix}`, type: 'cilium-cni', 'socket-path': agent.sock },
    agent,
  };
}

function setupPtp(dir, toolsBin) {
  const node = `cts-c6p-${suffix}`;
  netnsAdd(node);
  run('ip', ['-n', node, 'link', 'set', 'lo', 'up']);
  const cidr = `10.${200 + (rnd() % 50)}.${rnd() & 0xfc}.0/22`;
  const dataDir = join(dir, 'host-local');
  mkdirSync(dataDir, { recursive: true });
  return {
    name: 'ptp', node, cidr,
    plugin: join(toolsBin, 'ptp'), cniPath: toolsBin,
    conf: {
      cniVersion: CNI_VERSION, name: `bench-cni-p-${suffix}`, type: 'ptp', ipMasq: false, mtu: 1500,
      ipam: { type: 'host-local', ranges: [[{ subnet: cidr }]], dataDir },
    },
  };
}

function setupBridge(dir, toolsBin) {
  const node = `cts-c6b-${suffix}`;
  netnsAdd(node);
  run('ip', ['-n', node, 'link', 'set', 'lo', 'up']);
  const cidr = `10.${200 + (rnd() % 50)}.${rnd() & 0xfc}.0/22`;
  const dataDir = join(dir, 'host-local-bridge');
  mkdirSync(dataDir, { recursive: true });
  return {
    name: 'bridge', node, cidr,
    plugin: join(toolsBin, 'bridge'), cniPath: toolsBin,
    conf: {
      cniVersion: CNI_VERSION, name: `bench-cni-b-${suffix}`, type: 'bridge', bridge: `cbr${suffix}`, isGateway: true, ipMasq: false, mtu: 1500,
      ipam: { type: 'host-local', ranges: [[{ subnet: cidr }]], dataDir },
    },
  };
}

/** The order of the plugins for round i: rotated, so that none always goes first. */
const rotate = (xs, i) => [...xs.slice(i % xs.length), ...xs.slice(0, i % xs.length)];

let podSeq = 0;
function newPod(impl) {
  const i = podSeq++;
  const ns = `cts-c6${impl.name[0]}${i}-${suffix}`;
  const netnsMs = netnsAdd(ns);
  const call = (command) =>
    cniCall({ plugin: impl.plugin, command, containerId: `bench-${impl.name}-${suffix}-${i}`, netnsPath: `/run/netns/${ns}`, cniPath: impl.cniPath, conf: impl.conf, nodeNs: impl.node });
  const pod = { ns, netnsMs, call, added: false };
  // On an aborted run: DEL (runs before the agent stops and the netns go: cleanup is LIFO).
  onCleanup(() => {
    if (!pod.added) return;
    const del = pod.call('DEL');
    spawnSync(del.cmd, del.args, { env: del.env, input: del.input, timeout: 30_000 });
  });
  return pod;
}

function checkAdd(impl, stdout) {
  const r = JSON.parse(stdout);
  if (!r.ips?.[0]?.address) throw new BenchError('BENCH_CNI_RESULT', `${impl.name}: ADD result has no IP: ${stdout}`);
}

function netnsDel(ns) {
  return timed('ip', ['netns', 'del', ns]).ms;
}

export async function benchCni({ json } = {}) {
  const info = machineInfo();
  console.log(`B6 CNI: sequential ${N} pods per plugin (interleaved, order rotated), ${ROUNDS} bursts of ${BURST} parallel ADD/DEL per plugin`);
  console.log(`machine: ${info.nproc} CPU (${info.cpu}), kernel ${info.kernel}, node ${info.node}, load average ${info.loadavg.join(' ')}`);
  const toolsBin = goTools();
  const m = {}; // m[impl][phase] = number[] (ms)
  const rec = (impl, phase, ms) => ((m[impl] ??= {})[phase] ??= []).push(ms);
  try {
    const dir = tmpDir('cni');
    const ours = await setupOurs(join(dir, 'agent'));
    const ptp = setupPtp(dir, toolsBin);
    const impls = process.env.BENCH_CNI_BRIDGE === '0' ? [ours, ptp] : [ours, ptp, setupBridge(dir, toolsBin)];

    // Warm-up: one ADD/DEL each (page cache, agent JIT), discarded.
    for (const impl of impls) {
      const p = newPod(impl);
      checkAdd(impl, cniSync(p.call('ADD')).stdout);
      cniSync(p.call('DEL'));
      netnsDel(p.ns);
    }

    // Process floor: VERSION does no work, so it is the cost of starting the plugin (and nsenter).
    for (let i = 0; i < 20; i++) {
      for (const impl of rotate(impls, i)) {
        const v = cniCall({ plugin: impl.plugin, command: 'VERSION', containerId: '', netnsPath: '', cniPath: impl.cniPath, conf: impl.conf, nodeNs: impl.node });
        rec(impl.name, 'VERSION (process floor)', cniSync(v).ms);
      }
    }

    // Sequential.
    const pods = Object.fromEntries(impls.map((x) => [x.name, []]));
    for (let i = 0; i < N; i++) {
      for (const impl of rotate(impls, i)) {
        const p = newPod(impl);
        rec(impl.name, 'netns add', p.netnsMs);
        const r = cniSync(p.call('ADD'));
        p.added = true;
        checkAdd(impl, r.stdout);
        rec(impl.name, 'ADD seq', r.ms);
        rec(impl.name, 'netns+ADD seq', p.netnsMs + r.ms);
        pods[impl.name].push(p);
      }
    }
    for (let i = 0; i < N; i++) {
      for (const impl of rotate(impls, i)) {
        const p = pods[impl.name][i];
        rec(impl.name, 'DEL seq', cniSync(p.call('DEL')).ms);
        p.added = false;
        rec(impl.name, 'netns del', netnsDel(p.ns));
      }
    }
    console.log(`  sequential: ${N} ADD + ${N} DEL per plugin done`);

    // Bursts.
    for (let r = 0; r < ROUNDS; r++) {
      for (const impl of rotate(impls, r)) {
        const burst = Array.from({ length: BURST }, () => newPod(impl));
        const t0 = process.hrtime.bigint();
        const adds = await Promise.all(burst.map((p) => cniAsync(p.call('ADD')).then((x) => ((p.added = true), x))));
        rec(impl.name, `burst-${BURST} wall`, Number(process.hrtime.bigint() - t0) / 1e6);
        for (const a of adds) {
          checkAdd(impl, a.stdout);
          rec(impl.name, `ADD burst-${BURST}`, a.ms);
        }
        const dels = await Promise.all(burst.map((p) => cniAsync(p.call('DEL')).then((x) => ((p.added = false), x))));
        for (const d of dels) rec(impl.name, `DEL burst-${BURST}`, d.ms);
        for (const p of burst) netnsDel(p.ns);
        console.log(`  burst ${r + 1}/${ROUNDS} ${impl.name}: ADD p50 ${fmt(median(adds.map((a) => a.ms)))} ms, p99 ${fmt(percentile(adds.map((a) => a.ms), 99))} ms`);
      }
    }
    if (!ours.agent.alive()) throw new BenchError('BENCH_AGENT_EXITED', `the agent died during the run:\n${ours.agent.log()}`);
    // Nothing left behind by either plugin in its node netns.
    for (const impl of impls) {
      const left = JSON.parse(run('ip', ['-n', impl.node, '-j', 'link', 'show']).stdout).filter((l) => l.link_type === 'ether' && /^(lxc|veth)/.test(l.ifname));
      if (left.length) console.log(`  WARNING: ${impl.name} left ${left.length} host veths behind: ${left.map((l) => l.ifname).join(' ')}`);
    }

    const phases = ['VERSION (process floor)', 'netns add', 'ADD seq', 'netns+ADD seq', 'DEL seq', 'netns del', `ADD burst-${BURST}`, `DEL burst-${BURST}`, `burst-${BURST} wall`];
    const rows = [];
    for (const ph of phases) {
      for (const impl of impls.map((x) => x.name)) {
        const xs = m[impl]?.[ph] ?? [];
        rows.push([ph, impl, xs.length, fmt(median(xs)), fmt(percentile(xs, 99)), fmt(mean(xs)), fmt(max(xs))]);
      }
    }
    console.log('');
    console.log(table(['phase (ms)', 'plugin', 'n', 'p50', 'p99', 'mean', 'max'], rows));
    const p50 = (impl, ph) => median(m[impl][ph]);
    const p99 = (impl, ph) => percentile(m[impl][ph], 99);
    const checks = [
      ['ADD p50 ours/ptp (sequential)', p50('ours', 'ADD seq') / p50('ptp', 'ADD seq'), '<= 1.5', (x) => x <= 1.5],
      ['DEL p50 ours/ptp (sequential)', p50('ours', 'DEL seq') / p50('ptp', 'DEL seq'), '', undefined],
      [`ADD p50 ours/ptp (burst-${BURST})`, p50('ours', `ADD burst-${BURST}`) / p50('ptp', `ADD burst-${BURST}`), '', undefined],
      ...(m.bridge ? [['ADD p50 ours/bridge (sequential)', p50('ours', 'ADD seq') / p50('bridge', 'ADD seq'), '', undefined]] : []),
      ['ours ADD p50 sequential (ms)', p50('ours', 'ADD seq'), '<= 150', (x) => x <= 150],
      ['ours ADD p99 sequential (ms)', p99('ours', 'ADD seq'), '<= 300', (x) => x <= 300],
      [`ours ADD p99 burst-${BURST} (ms)`, p99('ours', `ADD burst-${BURST}`), '<= 1000', (x) => x <= 1000],
    ];
    console.log('');
    console.log(table(['check', 'value', 'target', ''], checks.map(([n, v, t, ok]) => [n, v.toFixed(3), t, ok ? (ok(v) ? 'PASS' : 'FAIL') : ''])));
    const out = {
      bench: 'B6-cni', machine: info, n: N, burst: BURST, rounds: ROUNDS, cniVersion: CNI_VERSION,
      samplesMs: m, ratios: Object.fromEntries(checks.map(([n, v, t]) => [n, { value: v, target: t }])),
    };
    out.loadavgEnd = machineInfo().loadavg;
    console.log(`load average at the end: ${out.loadavgEnd.join(' ')} (other work on the machine makes the figures noisy)`);
    if (json) writeFileSync(json, JSON.stringify(out, null, 2));
    return out;
  } finally {
    cleanup();
  }
}
