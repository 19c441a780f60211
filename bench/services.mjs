// B2 + B3 (notes/performance-anchors.md): ClusterIP services at scale, ours vs the real kube-proxy.
//
// One lab (bin/cilium-lab up, 1 node: etcd, kube-apiserver, kcm, a lab kubelet). The bench creates:
//   - 4 backend netns, each a `svc-probe server` on 10.201.<i>.2:8080, a veth to the node netns (10.201.<i>.1);
//   - a "sink" netns that owns 10.96.0.0/16 (a `local` route) and the node netns' route to it: a connect to a
//     VIP that no proxy handles is refused at once (RST) instead of timing out, on every peer alike;
//   - N selector-less Services (ClusterIP 10.96.100.0 + i, port 80 -> 8080) with one EndpointSlice each
//     (the 4 backends, ready), created once through the apiserver with bounded concurrency and reused by
//     every peer; N grows through BENCH_SVC_N (default 1,1000,10000,30000).
// Peers, one at a time, in the node netns, order rotated per N:
//   kp-iptables   kube-proxy (built by scripts/build-kube-proxy.sh, the lab's k8s version) --proxy-mode iptables
//   kp-nftables   the same binary in nftables mode
//   ours          cilium-agent in k8s mode, kube-proxy-replacement=true, socket LB on the node's cgroup2 subtree
// each started with N existing services, measured, stopped and its rules removed (`kube-proxy --cleanup`,
// then checked: no KUBE-* chain, no kube-proxy nft table) before the next.
// Metrics, client = bench/lib/svc-probe.c in the node netns and in a cgroup under the node's cgroup2 subtree:
//   B3 bulk   from the proxy's start (N services exist) until the last-created service answers; peer CPU s
//   B2 rate   connect + close per second to the last-created service; connect() p50/p99
//   B3 change one Service added / removed, one endpoint removed / added while N exist: from the API write until
//             a connect to that VIP succeeds / is refused (polled every BENCH_PROBE_US µs); p50/p99 per kind.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, statSync, writeFileSync, copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BenchError, cacheDir, cleanup, cpuSeconds, fmt, inNetns, ipn, machineInfo, median, onCleanup, percentile, root, run,
  runAsync, sleep, startProcess, suffix, sysctl, table, tmpDir,
} from './lib/common.mjs';
import { Kube, bulk } from './lib/kube.mjs';

const QUICK = process.env.BENCH_QUICK === '1';
const NS_LIST_DEFAULT = (process.env.BENCH_SVC_N ?? (QUICK ? '1,1000' : '1,1000,10000,30000')).split(',').map((s) => Number(s.trim())).filter((n) => n > 0).sort((a, b) => a - b);
const NS_LIST = NS_LIST_DEFAULT;
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 3 : 5));
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? (QUICK ? 1 : 2));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 2)); // each round starts every peer once, order rotated
const CHANGES = Number(process.env.BENCH_CHANGES ?? (QUICK ? 4 : 10));
const CHANGE_GAP_MS = Number(process.env.BENCH_CHANGE_GAP_MS ?? 1200);
const PROBE_US = Number(process.env.BENCH_PROBE_US ?? 200);
const BULK_PROBE_US = Number(process.env.BENCH_BULK_PROBE_US ?? 1000); // coarser: the bulk runs for seconds
const CREATE_CONCURRENCY = Number(process.env.BENCH_CREATE_CONCURRENCY ?? 24);
const PEERS = (process.env.BENCH_PEERS ?? 'kp-iptables,kp-nftables,ours').split(',').map((s) => s.trim()).filter(Boolean);
const KP_EXTRA = process.env.BENCH_KP_CONFIG ?? ''; // extra YAML lines for the KubeProxyConfiguration, e.g. "iptables:\n  minSyncPeriod: 0s"
const cpuEnv = (k, d) => (process.env[k] === undefined ? d : process.env[k] === '' ? undefined : Number(process.env[k]));
const CLIENT_CPU = cpuEnv('BENCH_CLIENT_CPU', 0);
const SERVER_CPU = cpuEnv('BENCH_SERVER_CPU', 1);
// A peer that has not programmed the services by then is recorded as a timeout at that N (no rate, no changes).
const BULK_TIMEOUT_MS = Number(process.env.BENCH_BULK_TIMEOUT_S ?? 900) * 1000;
const BULK_TIMEOUT_DEFAULT_MS = BULK_TIMEOUT_MS;
const CHANGE_TIMEOUT_MS = 120_000;
const SETTLE_MS = Number(process.env.BENCH_SETTLE_S ?? 30) * 1000; // pause after creating services, before the first peer
const BACKENDS = [0, 1, 2, 3].map((i) => `10.201.${i}.2`);
const BACKEND_PORT = 8080;
const VIP_PORT = 80;

const vip = (i) => `10.96.${100 + Math.floor(i / 256)}.${i % 256}`; // i < 31,744: 10.96.100.0 - 10.96.223.255
let changeVipNext = 0;
const changeVip = () => {
  const k = changeVipNext++;
  return `10.96.${224 + Math.floor(k / 256)}.${k % 256}`;
};

// ---------------------------------------------------------------- the client / server tool
function probeBinary() {
  const src = join(root, 'bench', 'lib', 'svc-probe.c');
  const out = join(cacheDir, 'bench', 'svc-probe');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(join(cacheDir, 'bench'), { recursive: true });
    run('cc', ['-O2', '-Wall', '-o', out, src]);
  }
  return out;
}

const liveChildren = new Set();
onCleanup(() => {
  for (const p of liveChildren) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {}
  }
});

// ---------------------------------------------------------------- lab and network
function upstreamBin() {
  const r = run(join(root, 'lab', 'build-upstream.sh'), [], { timeoutMs: 3_600_000 });
  return r.stdout.trim().split('\n').at(-1);
}
function kubeProxyBin() {
  const r = run(join(root, 'scripts', 'build-kube-proxy.sh'), [], { timeoutMs: 3_600_000 });
  return join(r.stdout.trim().split('\n').at(-1), 'kube-proxy');
}

function labUp(name) {
  onCleanup(() => spawnSync(join(root, 'bin', 'cilium-lab'), ['down', '--name', name], { stdio: 'ignore', timeout: 120_000 }));
  run(join(root, 'bin', 'cilium-lab'), ['up', '--name', name, '--nodes', '1'], { timeoutMs: 300_000 });
  const state = JSON.parse(readFileSync(`/run/cilium-lab/${name}/state.json`, 'utf8'));
  const node = state.nodes[0];
  return { name, dir: `/run/cilium-lab/${name}`, nodeNs: node.netns, nodeName: node.name, nodeIp: node.ip, cgroupRoot: `/sys/fs/cgroup/unified/cilium-lab/${name}/${node.name}` };
}

function netSetup(lab, probe) {
  const tag = suffix.slice(0, 5);
  const node = lab.nodeNs;
  for (const [i, ip] of BACKENDS.entries()) {
    const ns = `cts-sv${suffix}-b${i}`;
    run('ip', ['netns', 'add', ns]);
    onCleanup(() => spawnSync('ip', ['netns', 'del', ns]));
    const host = `svb${tag}${i}`;
    run('ip', ['link', 'add', host, 'netns', node, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    ipn(node, ['addr', 'add', `10.201.${i}.1/24`, 'dev', host]);
    ipn(node, ['link', 'set', host, 'up']);
    ipn(ns, ['link', 'set', 'lo', 'up']);
    ipn(ns, ['addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    ipn(ns, ['link', 'set', 'eth0', 'up']);
    ipn(ns, ['route', 'add', 'default', 'via', `10.201.${i}.1`]);
    const [cmd, args] = inNetns(ns, [probe, 'server', ip, String(BACKEND_PORT)], SERVER_CPU);
    startProcess(cmd, args, `backend ${i}`);
  }
  const sink = `cts-sv${suffix}-sink`;
  run('ip', ['netns', 'add', sink]);
  onCleanup(() => spawnSync('ip', ['netns', 'del', sink]));
  const host = `svs${tag}`;
  run('ip', ['link', 'add', host, 'netns', node, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', sink]);
  ipn(node, ['addr', 'add', '10.202.0.1/30', 'dev', host]);
  ipn(node, ['link', 'set', host, 'up']);
  ipn(sink, ['link', 'set', 'lo', 'up']);
  ipn(sink, ['addr', 'add', '10.202.0.2/30', 'dev', 'eth0']);
  ipn(sink, ['link', 'set', 'eth0', 'up']);
  ipn(sink, ['route', 'add', 'local', '10.96.0.0/16', 'dev', 'lo']);
  ipn(sink, ['route', 'add', 'default', 'via', '10.202.0.1']);
  ipn(node, ['route', 'add', '10.96.0.0/16', 'via', '10.202.0.2']);
  sysctl(node, 'net.ipv4.ip_local_port_range', '1024 65535');
  // The client's cgroup: a child of the node's cgroup2 subtree (where the socket LB attaches).
  const cg = join(lab.cgroupRoot, `bench-svc-${suffix}`);
  mkdirSync(cg);
  onCleanup(() => {
    try {
      rmdirSync(cg);
    } catch {}
  });
  return { cg };
}

/** argv of a client process: in the bench's cgroup (under the node's subtree), in the node netns, pinned. */
function clientCmd(lab, net, argv) {
  const [ncmd, nargs] = inNetns(lab.nodeNs, argv, CLIENT_CPU);
  return ['sh', ['-c', 'echo $$ > "$0" && exec "$@"', join(net.cg, 'cgroup.procs'), ncmd, ...nargs]];
}

/** Starts `svc-probe wait`; resolves .ready with the first observed state, .done with the result. */
function startWait(ctx, ip, target, timeoutMs, intervalUs = PROBE_US) {
  // An attempt waits 5 ms for an answer when looking for 'up' (a SYN kube-proxy's nftables mode drops must not
  // cost 20 ms of resolution), 20 ms when looking for 'down' (so a slow answer is not taken for a drop).
  const answerMs = target === 'up' ? 5 : 20;
  const [cmd, args] = clientCmd(ctx.lab, ctx.net, [ctx.probe, 'wait', ip, String(VIP_PORT), target, String(timeoutMs), String(intervalUs), String(answerMs)]);
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(p);
  let buf = '';
  let err = '';
  let readyRes;
  let doneRes;
  const ready = new Promise((r) => (readyRes = r));
  const done = new Promise((r) => (doneRes = r));
  p.stdout.on('data', (c) => {
    buf += c;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('ready ')) readyRes(line.slice(6));
      else if (line.startsWith('{')) doneRes(JSON.parse(line));
    }
  });
  p.stderr.on('data', (c) => (err += c));
  p.on('close', (code) => {
    liveChildren.delete(p);
    readyRes(`exited ${code}: ${err.trim()}`);
    doneRes({ timeout: true, exited: code, stderr: err.trim() });
  });
  return { ready, done, kill: () => p.kill('SIGKILL') };
}

// ---------------------------------------------------------------- objects
const svcObj = (ns, name, ip) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: ns },
  spec: { type: 'ClusterIP', clusterIP: ip, ports: [{ name: 'http', port: VIP_PORT, targetPort: BACKEND_PORT, protocol: 'TCP' }] },
});
const endpoints = (ips) => ips.map((ip) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false } }));
const sliceObj = (ns, svc, ips) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: `${svc}-b`, namespace: ns, labels: { 'kubernetes.io/service-name': svc, 'endpointslice.kubernetes.io/managed-by': 'bench.cilium-ts.io' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: BACKEND_PORT, protocol: 'TCP' }],
  endpoints: endpoints(ips),
});
const svcPath = (ns, name = '') => `/api/v1/namespaces/${ns}/services${name ? `/${name}` : ''}`;
const slicePath = (ns, name = '') => `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices${name ? `/${name}` : ''}`;

async function createService(kube, ns, name, ip, ips) {
  await kube.must('POST', slicePath(ns), sliceObj(ns, name, ips), { okStatus: [409] });
  await kube.must('POST', svcPath(ns), svcObj(ns, name, ip), { okStatus: [409] });
}

/** Creates services [from, to) (the last one alone, after all others); returns the wall time in ms. */
async function createServices(kube, ns, from, to) {
  const t0 = performance.now();
  let last = performance.now();
  await bulk(from, to - 1, CREATE_CONCURRENCY, (i) => createService(kube, ns, `s${i}`, vip(i), BACKENDS), (done) => {
    if (performance.now() - last > 15_000) {
      last = performance.now();
      console.log(`    created ${from + done}/${to} (${fmt((done / (last - t0)) * 1000, 0)} services/s)`);
    }
  });
  await createService(kube, ns, `s${to - 1}`, vip(to - 1), BACKENDS);
  return performance.now() - t0;
}

// ---------------------------------------------------------------- peers
function kpConfig(ctx, mode) {
  const dir = tmpDir(`kp-${mode}`);
  const kubeconfig = join(dir, 'kubeconfig');
  copyFileSync(join(ctx.lab.dir, 'admin-underlay.kubeconfig'), kubeconfig);
  const cfg = join(dir, 'config.yaml');
  writeFileSync(
    cfg,
    [
      'apiVersion: kubeproxy.config.k8s.io/v1alpha1',
      'kind: KubeProxyConfiguration',
      `mode: ${mode}`,
      `hostnameOverride: ${ctx.lab.nodeName}`,
      'clientConnection:',
      `  kubeconfig: ${kubeconfig}`,
      'healthzBindAddress: 127.0.0.1:10256',
      'metricsBindAddress: 127.0.0.1:10249',
      // Leave the (machine-wide) conntrack table size and hash size alone; timeouts as the kernel has them.
      'conntrack:',
      '  maxPerCore: 0',
      '  min: 0',
      '  tcpEstablishedTimeout: 0s',
      '  tcpCloseWaitTimeout: 0s',
      KP_EXTRA,
    ].join('\n') + '\n',
  );
  return cfg;
}

// Chains `kube-proxy --cleanup` keeps on purpose (empty; shared with the kubelet or used as markers).
const KP_KEPT = [];

/** Rules kube-proxy left in the node netns: KUBE-* iptables chains and kube-proxy nft tables. */
function proxyLeftovers(ctx) {
  const left = [];
  for (const save of ['iptables-save', 'ip6tables-save']) {
    const r = run('ip', ['netns', 'exec', ctx.lab.nodeNs, save], { allowFail: true });
    const lines = r.stdout.split('\n').filter((l) => l.includes('KUBE-') && !KP_KEPT.some((k) => l.includes(k)));
    if (lines.length) left.push(`${save}: ${lines.join(' | ')}`);
  }
  const nft = run('ip', ['netns', 'exec', ctx.lab.nodeNs, 'nft', 'list', 'tables'], { allowFail: true });
  for (const l of nft.stdout.split('\n')) if (l.includes('kube-proxy')) left.push(`nft: ${l.trim()}`);
  return left;
}

/**
 * What --cleanup keeps (KUBE-FIREWALL and its jumps from INPUT/OUTPUT, canary chains): removed here, only in
 * the lab's node netns, only KUBE-* chains and the rules jumping to them.
 */
function removeKubeChains(ctx) {
  for (const ipt of ['iptables', 'ip6tables']) {
    for (const t of ['filter', 'nat', 'mangle']) {
      const x = (args) => run('ip', ['netns', 'exec', ctx.lab.nodeNs, ipt, '-w', '-t', t, ...args], { allowFail: true });
      const rules = x(['-S']).stdout.split('\n');
      for (const r of rules) {
        const m = /^-A (\S+) (.*-j KUBE-\S+.*)$/.exec(r);
        if (m && !m[1].startsWith('KUBE-')) x(['-D', m[1], ...m[2].match(/"[^"]*"|\S+/g).map((a) => a.replace(/^"|"$/g, ''))]);
      }
      const chains = rules.map((r) => /^-N (KUBE-\S+)$/.exec(r)?.[1]).filter(Boolean);
      for (const c of chains) x(['-F', c]);
      for (const c of chains) x(['-X', c]);
    }
  }
}

function kpCleanup(ctx) {
  const [cmd, args] = inNetns(ctx.lab.nodeNs, [ctx.kubeProxy, '--cleanup', '-v=0']);
  run(cmd, args, { allowFail: true, timeoutMs: 600_000 });
  removeKubeChains(ctx);
  const left = proxyLeftovers(ctx);
  if (left.length) throw new BenchError('BENCH_KP_LEFTOVERS', `kube-proxy --cleanup left rules in ${ctx.lab.nodeNs}: ${left.join('; ')}`);
}

function kubeProxyPeer(mode) {
  return {
    name: `kp-${mode}`,
    unavailable: () => undefined,
    start(ctx) {
      const cfg = kpConfig(ctx, mode);
      const [cmd, args] = inNetns(ctx.lab.nodeNs, [ctx.kubeProxy, `--config=${cfg}`, '-v=1']);
      const h = startProcess(cmd, args, `kube-proxy ${mode}`);
      return { pid: h.proc.pid, alive: h.alive, log: h.log, stop: () => (h.stop(), kpCleanup(ctx)) };
    },
  };
}

/**
 * Ours: bin/cilium-agent in the node netns, Kubernetes mode (its own kubeconfig, --node-name the lab node,
 * --ipam kubernetes with a podCIDR the bench sets on the Node), kube-proxy-replacement=true, socket LB
 * (bpf_sock) attached at the node's cgroup2 subtree (--cgroup-root) and detached on shutdown. A fresh state
 * dir and bpffs per start, so it programs everything from scratch as kube-proxy does after --cleanup.
 */
function oursPeer() {
  return {
    name: 'ours',
    unavailable() {
      const help = run(process.execPath, [join(root, 'bin', 'cilium-agent'), '--help'], { allowFail: true }).stdout;
      if (!existsSync(join(root, 'bpf', 'build', 'bpf_sock.o'))) return 'bpf/build/bpf_sock.o is not built (socket LB)';
      for (const f of ['--cgroup-root', '--bpf-lb-sock-detach-on-shutdown', '--ipam', '--kube-proxy-replacement']) {
        if (!help.includes(f)) return `bin/cilium-agent has no ${f}`;
      }
      return undefined;
    },
    async prepare(ctx) {
      // The CRDs the agent writes (CiliumNode, CiliumEndpoint, ...) and a pod CIDR on the Node (ipam=kubernetes).
      run(ctx.kubectl, ['--kubeconfig', join(ctx.lab.dir, 'admin.kubeconfig'), 'apply', '-f', join(root, 'install', 'kubernetes', 'cilium', 'crds')]);
      run(ctx.kubectl, ['--kubeconfig', join(ctx.lab.dir, 'admin.kubeconfig'), 'wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
      await ctx.kube.must('PATCH', `/api/v1/nodes/${ctx.lab.nodeName}`, { spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] } }, { contentType: 'application/merge-patch+json' });
    },
    start(ctx) {
      const dir = tmpDir(`ours-${ctx.n}`);
      const kubeconfig = join(dir, 'kubeconfig');
      copyFileSync(join(ctx.lab.dir, 'admin-underlay.kubeconfig'), kubeconfig);
      const bpfRoot = join(dir, 'bpffs');
      mkdirSync(bpfRoot);
      mkdirSync(join(dir, 'state'));
      const [cmd, args] = inNetns(ctx.lab.nodeNs, [
        process.execPath, join(root, 'bin', 'cilium-agent'),
        '--k8s-mode', '--k8s-kubeconfig-path', kubeconfig, '--node-name', ctx.lab.nodeName, '--ipam', 'kubernetes',
        '--kube-proxy-replacement', 'true', '--cgroup-root', ctx.lab.cgroupRoot, '--bpf-lb-sock-detach-on-shutdown', 'true',
        '--state-dir', join(dir, 'state'), '--bpf-root', bpfRoot, '--socket-path', join(dir, 'cilium.sock'),
        '--hubble-socket-path', join(dir, 'hubble.sock'), '--enable-hubble', 'false', '--agent-health-port', '0',
        '--host-device', `coh${suffix.slice(0, 5)}`, '--tunnel-device', `cvx${suffix.slice(0, 5)}`,
        ...(process.env.BENCH_AGENT_ARGS ?? '').split(/\s+/).filter(Boolean),
      ]);
      const h = startProcess(cmd, args, 'cilium-agent');
      const stop = () => {
        h.stop();
        spawnSync('umount', ['-l', bpfRoot]);
        const left = run('bpftool', ['cgroup', 'show', ctx.lab.cgroupRoot], { allowFail: true }).stdout.trim();
        if (left) {
          console.error(`    ours: programs still attached at ${ctx.lab.cgroupRoot} after the agent stopped:\n${left}`);
          detachAll(ctx.lab.cgroupRoot);
        }
      };
      return { pid: h.proc.pid, alive: h.alive, log: h.log, stop };
    },
  };
}

/** Detaches every BPF program attached at one cgroup dir (the lab node's subtree only). */
function detachAll(cg) {
  const r = run('bpftool', ['-j', 'cgroup', 'show', cg], { allowFail: true });
  let progs = [];
  try {
    progs = JSON.parse(r.stdout || '[]');
  } catch {}
  for (const p of progs) run('bpftool', ['cgroup', 'detach', cg, p.attach_type, 'id', String(p.id)], { allowFail: true });
}

// ---------------------------------------------------------------- measurements
async function rateSample(ctx, ip) {
  const [cmd, args] = clientCmd(ctx.lab, ctx.net, [ctx.probe, 'rate', ip, String(VIP_PORT), String(SECONDS)]);
  const r = await runAsync(cmd, args);
  if (r.status !== 0) throw new BenchError('BENCH_RATE_FAILED', `svc-probe rate ${ip} exited ${r.status}: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

/** Where kube-proxy put the target service's rule in the nat KUBE-SERVICES chain (iptables walks it in order). */
function kubeServicesPosition(ctx, ip) {
  const r = run('ip', ['netns', 'exec', ctx.lab.nodeNs, 'iptables-save', '-t', 'nat'], { allowFail: true });
  const rules = r.stdout.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES '));
  const i = rules.findIndex((l) => l.includes(`-d ${ip}/32 `));
  return i < 0 ? undefined : { position: i + 1, total: rules.length };
}

/**
 * One change: the probe sees `from` first, then the write, then the time until it sees the target state.
 * ms: from the start of the API write. fromEventMs: from the moment the bench's own watch (ctx.watch, on the
 * same apiserver) received the change's event `eventKey` (a key of Kube.observe, or a function of the write's
 * response giving one): the proxy's own share, without the apiserver's
 * write and dispatch time, which every peer shares.
 */
async function timeChange(ctx, ip, target, write, eventKey) {
  const w = startWait(ctx, ip, target, CHANGE_TIMEOUT_MS);
  const first = await w.ready;
  if (first === target) {
    w.kill();
    throw new BenchError('BENCH_CHANGE_PRECONDITION', `${ip}: already ${target} before the change`, 'a previous change did not settle, or the sink route is missing');
  }
  const t0 = process.hrtime.bigint();
  const wr = await write();
  const tw = process.hrtime.bigint();
  const r = await w.done;
  if (r.timeout) return { ms: NaN, fromEventMs: NaN, writeMs: Number(tw - t0) / 1e6, timeout: true };
  const key = typeof eventKey === 'function' ? eventKey(wr) : eventKey;
  const te = key ? await ctx.watch?.waitFor(key, 5000) : undefined;
  return {
    ms: Number(BigInt(r.t_ns) - t0) / 1e6,
    fromEventMs: te === undefined ? NaN : Number(BigInt(r.t_ns) - te) / 1e6,
    eventMs: te === undefined ? NaN : Number(te - t0) / 1e6,
    writeMs: Number(tw - t0) / 1e6,
    attempts: r.attempts,
  };
}

const gap = () => sleep(CHANGE_GAP_MS + Math.floor(Math.random() * 300));

async function changes(ctx, peerName) {
  const { kube, ns } = ctx;
  const res = { 'svc-add': [], 'svc-del': [], 'ep-del': [], 'ep-add': [] };
  const svcWatch = await kube.observe(svcPath(ns));
  const sliceWatch = await kube.observe(slicePath(ns));
  try {
    return await changesObserved({ ...ctx, svcWatch, sliceWatch }, peerName, res);
  } finally {
    svcWatch.stop();
    sliceWatch.stop();
  }
}

async function changesObserved(ctx, peerName, res) {
  const { kube, ns } = ctx;
  const svcCtx = { ...ctx, watch: ctx.svcWatch };
  const sliceCtx = { ...ctx, watch: ctx.sliceWatch };
  for (let c = 0; c < CHANGES; c++) {
    const name = `chg-${peerName}-${ctx.n}-${c}`;
    const ip = changeVip();
    await kube.must('POST', slicePath(ns), sliceObj(ns, name, BACKENDS));
    await gap(); // the slice alone triggers a sync; kube-proxy's minSyncPeriod would delay the next one
    res['svc-add'].push(await timeChange(svcCtx, ip, 'up', () => kube.must('POST', svcPath(ns), svcObj(ns, name, ip)), `ADDED ${name}`));
    await gap();
    res['svc-del'].push(await timeChange(svcCtx, ip, 'down', () => kube.must('DELETE', svcPath(ns, name)), `DELETED ${name}`));
    await kube.must('DELETE', slicePath(ns, `${name}-b`));
    await gap();
  }
  // Endpoints: one service whose only endpoint is removed, then added back.
  const name = `chgep-${peerName}-${ctx.n}`;
  const ip = changeVip();
  await createService(kube, ns, name, ip, [BACKENDS[0]]);
  const w = startWait(ctx, ip, 'up', CHANGE_TIMEOUT_MS);
  const up = await w.done;
  if (up.timeout) throw new BenchError('BENCH_EP_SERVICE', `${peerName}: service ${name} (${ip}) never answered`);
  await gap();
  const byRv = (wr) => `rv ${wr?.body?.metadata?.resourceVersion}`;
  const patch = (ips) => () => kube.must('PATCH', slicePath(ns, `${name}-b`), { endpoints: endpoints(ips) }, { contentType: 'application/merge-patch+json' });
  for (let c = 0; c < CHANGES; c++) {
    res['ep-del'].push(await timeChange(sliceCtx, ip, 'down', patch([]), byRv));
    await gap();
    res['ep-add'].push(await timeChange(sliceCtx, ip, 'up', patch([BACKENDS[0]]), byRv));
    await gap();
  }
  await kube.must('DELETE', svcPath(ns, name));
  await kube.must('DELETE', slicePath(ns, `${name}-b`));
  return res;
}

async function runPeer(ctx, peer) {
  const lastIp = vip(ctx.n - 1);
  const out = { n: ctx.n };
  // B3 bulk: the probe polls the last-created VIP before the proxy starts.
  const w = startWait(ctx, lastIp, 'up', BULK_TIMEOUT_MS, BULK_PROBE_US);
  const first = await w.ready;
  if (first !== 'down') throw new BenchError('BENCH_PRECONDITION', `${peer.name}: ${lastIp} is '${first}' before the proxy starts (expected refused by the sink)`);
  const t0 = process.hrtime.bigint();
  const h = peer.start(ctx);
  try {
    const r = await w.done;
    if (r.timeout) {
      if (!h.alive()) throw new BenchError('BENCH_PEER_EXITED', `${peer.name} exited before programming the services:\n${h.log().slice(-3000)}`);
      console.log(`    ${peer.name}: last service ${lastIp} not answering ${BULK_TIMEOUT_MS / 1000} s after start: recorded as a timeout (peer CPU ${fmt(cpuSeconds(h.pid))} s)`);
      return { n: ctx.n, bulkMs: Infinity, bulkCpuS: cpuSeconds(h.pid), bulkTimeout: true, rate: [], changes: {}, changesCpuS: NaN };
    }
    out.bulkMs = Number(BigInt(r.t_ns) - t0) / 1e6;
    out.bulkCpuS = cpuSeconds(h.pid);
    if (peer.name === 'kp-iptables') out.kubeServicesPosition = kubeServicesPosition(ctx, lastIp);
    const pos = out.kubeServicesPosition ? `; its rule is ${out.kubeServicesPosition.position} of ${out.kubeServicesPosition.total} in KUBE-SERVICES` : '';
    console.log(`    ${peer.name}: programmed ${ctx.n} services in ${fmt(out.bulkMs / 1000)} s (peer CPU ${fmt(out.bulkCpuS)} s)${pos}`);
    // B2
    out.rate = [];
    for (let s = 0; s < SAMPLES; s++) {
      const r2 = await rateSample(ctx, lastIp);
      out.rate.push(r2);
      console.log(`    ${peer.name}: rate ${fmt(r2.rate, 0)} conn/s, connect p50 ${fmt(r2.connect_p50_us)} µs p99 ${fmt(r2.connect_p99_us)} µs${r2.errors ? `, ${r2.errors} errors (${r2.last_error})` : ''}`);
    }
    // B3 changes
    const cpu0 = cpuSeconds(h.pid);
    out.changes = await changes(ctx, peer.name);
    out.changesCpuS = cpuSeconds(h.pid) - cpu0;
    const summary = Object.entries(out.changes).map(([k, v]) => `${k} p50 ${fmt(percentile(v.map((x) => x.ms), 50))} ms (event→effect ${fmt(percentile(v.map((x) => x.fromEventMs).filter(Number.isFinite), 50))})`).join(', ');
    console.log(`    ${peer.name}: changes: ${summary}`);
    if (!h.alive()) throw new BenchError('BENCH_PEER_EXITED', `${peer.name} exited during the run:\n${h.log().slice(-3000)}`);
  } finally {
    h.stop();
  }
  return out;
}

// ---------------------------------------------------------------- report
const agg = (r) => {
  if (!r || r.rate.length === 0) return undefined;
  const rates = r.rate.map((x) => x.rate);
  const ch = Object.fromEntries(Object.entries(r.changes).map(([k, v]) => [k, v.map((x) => x.ms)]));
  const all = Object.values(ch).flat();
  // from the bench's watch event (the proxy's share); NaN where the event was not seen (counted apart)
  const ev = Object.values(r.changes).flat().map((x) => x.fromEventMs);
  const evSeen = ev.filter((x) => Number.isFinite(x));
  const apiMs = Object.values(r.changes).flat().map((x) => x.eventMs).filter((x) => Number.isFinite(x));
  return {
    bulkS: median(r.bulkMs) / 1000,
    bulkCpuS: median(r.bulkCpuS),
    rate: median(rates),
    rateMin: Math.min(...rates),
    rateMax: Math.max(...rates),
    connP50: median(r.rate.map((x) => x.connect_p50_us)),
    connP99: median(r.rate.map((x) => x.connect_p99_us)),
    ch: Object.fromEntries(Object.entries(ch).map(([k, v]) => [k, { p50: percentile(v, 50), p99: percentile(v, 99), timeouts: v.filter((x) => !Number.isFinite(x)).length }])),
    chP50: percentile(all, 50),
    chP99: all.some((x) => !Number.isFinite(x)) ? Infinity : percentile(all, 99),
    evP50: evSeen.length ? percentile(evSeen, 50) : NaN,
    evP99: evSeen.length === 0 || all.some((x) => !Number.isFinite(x)) ? NaN : percentile(evSeen, 99),
    evMissing: ev.length - evSeen.length,
    apiP50: apiMs.length ? percentile(apiMs, 50) : NaN,
    apiP99: apiMs.length ? percentile(apiMs, 99) : NaN,
  };
};

function report(results, peers, unavailable, createMs, NS_LIST = NS_LIST_DEFAULT, BULK_TIMEOUT_MS = BULK_TIMEOUT_DEFAULT_MS) {
  const lines = [];
  for (const p of peers) {
    if (unavailable[p]) {
      lines.push(`\n${p}: not available yet (${unavailable[p]})`);
      continue;
    }
    const rows = NS_LIST.map((n) => {
      const a = agg(results[n]?.[p]);
      const r = results[n]?.[p];
      if (!a && r?.bulkTimeout) return [n, `> ${BULK_TIMEOUT_MS / 1000} (timeout)`, fmt(median(r.bulkCpuS)), '-', '-', '-', '-', '-', '-', '-', '-', '-', '-'];
      if (!a) return [n, '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-'];
      const c = (k) => `${fmt(a.ch[k].p50)} / ${fmt(a.ch[k].p99)}${a.ch[k].timeouts ? ` (${a.ch[k].timeouts} timeout)` : ''}`;
      return [n, fmt(a.bulkS), fmt(a.bulkCpuS), `${fmt(a.rate, 0)} (${fmt(a.rateMin, 0)}–${fmt(a.rateMax, 0)})`, fmt(a.connP50), fmt(a.connP99), c('svc-add'), c('svc-del'), c('ep-del'), c('ep-add'), `${fmt(a.chP50)} / ${fmt(a.chP99)}`, `${fmt(a.apiP50)} / ${fmt(a.apiP99)}`, `${fmt(a.evP50)} / ${fmt(a.evP99)}${a.evMissing ? ` (${a.evMissing} unseen)` : ''}`];
    });
    lines.push(`\n${p}`);
    const pos = NS_LIST.map((n) => results[n]?.[p]?.kubeServicesPosition).map((x, i) => (x ? `N=${NS_LIST[i]}: ${x.position}/${x.total}` : '')).filter(Boolean);
    if (pos.length) lines.push(`(target service's rule in nat KUBE-SERVICES: ${pos.join(', ')})`);
    lines.push(table(['N', 'bulk s', 'bulk CPU s', 'conn/s', 'connect p50 µs', 'p99 µs', 'svc add p50/p99 ms', 'svc del', 'ep del', 'ep add', 'any change p50/p99', 'write→event', 'event→effect'], rows));
    lines.push("(changes in ms from the API write; 'write→event': until the bench's own watch on the same apiserver got the event; 'event→effect': from that event until the VIP answered / was refused, i.e. the proxy's own share)");
  }
  lines.push(`\nservice creation through the apiserver (shared by all peers): ${NS_LIST.map((n) => `up to ${n}: ${fmt((createMs[n] ?? NaN) / 1000)} s`).join(', ')}`);
  if (!unavailable.ours) {
    for (const base of ['kp-iptables', 'kp-nftables']) {
      if (unavailable[base] || !peers.includes(base)) continue;
      const rows = NS_LIST.map((n) => {
        const o = agg(results[n]?.ours);
        const b = agg(results[n]?.[base]);
        if (!o || !b) return [n, '-', '-', '-', '-', '-'];
        return [n, fmt(o.rate / b.rate, 3), fmt(b.connP50 / o.connP50, 3), fmt(b.bulkS / o.bulkS, 3), fmt(b.chP50 / o.chP50, 3), fmt(b.chP99 / o.chP99, 3)];
      });
      lines.push(`\nours / ${base} (> 1: ours better)`);
      lines.push(table(['N', 'conn/s', 'connect p50 (inv)', 'bulk time (inv)', 'change p50 (inv)', 'change p99 (inv)'], rows));
    }
  }
  // Targets (issue 4).
  const t = [];
  const o = (n) => agg(results[n]?.ours);
  const lo = NS_LIST[0];
  const hi = NS_LIST.at(-1);
  const verdict = (ok) => (ok === undefined ? 'n/a' : ok ? 'PASS' : 'FAIL');
  {
    const a = o(lo);
    const b = o(hi);
    const v = a && b ? b.rate / a.rate : undefined;
    t.push([`ours conn/s flat from N=${lo} to N=${hi}: conn/s(N=${hi}) / conn/s(N=${lo}) ≥ 0.95`, v === undefined ? '-' : fmt(v, 3), verdict(v === undefined ? undefined : v >= 0.95)]);
  }
  {
    const a = o(10000);
    const b = agg(results[10000]?.['kp-iptables']);
    const v = a && b ? a.rate / b.rate : undefined;
    t.push(['N=10k: ours conn/s ≥ 1.3× kube-proxy iptables', v === undefined ? '-' : fmt(v, 3), verdict(v === undefined ? undefined : v >= 1.3)]);
  }
  {
    const a = o(30000);
    t.push(['N=30k: one change effective within 10 ms p99 of its watch event (the proxy\'s share)', a ? `${fmt(a.evP99)} ms` : '-', verdict(a && Number.isFinite(a.evP99) ? a.evP99 <= 10 : undefined)]);
    t.push(['N=30k: the same, counted from the API write (apiserver write + watch dispatch included)', a ? `${fmt(a.chP99)} ms` : '-', verdict(a ? a.chP99 <= 10 : undefined)]);
  }
  lines.push('\ntargets');
  lines.push(table(['target', 'value', ''], t));
  return lines.join('\n');
}

// ---------------------------------------------------------------- main
export async function benchServices(opts = {}) {
  const info = machineInfo();
  console.log(`services bench (B2/B3): N = ${NS_LIST.join(', ')} services × 4 endpoints; peers ${PEERS.join(', ')}; ${ROUNDS} round(s) per N, each: one start of every peer, ${SAMPLES} × ${SECONDS} s rate samples, ${CHANGES} changes of each kind`);
  console.log(`machine: ${info.nproc} CPU (${info.cpu}), kernel ${info.kernel}, node ${info.node}, load average ${info.loadavg.join(' ')}`);
  for (const b of ['cilium-lab', 'cilium-agent']) if (!existsSync(join(root, 'bin', b))) throw new BenchError('BENCH_NO_BINARY', `bin/${b} is missing`, 'run `make build` first');
  const upstream = upstreamBin();
  const kubeProxy = kubeProxyBin();
  const probe = probeBinary();
  const kubectl = join(upstream, 'kubectl');
  const labName = `bsv${suffix}`;
  const results = {};
  const createMs = {};
  const unavailable = {};
  const peerImpls = { 'kp-iptables': kubeProxyPeer('iptables'), 'kp-nftables': kubeProxyPeer('nftables'), ours: oursPeer() };
  let text = '';
  const json = opts.json ?? join(root, 'bench', 'results', `services-${info.date.replace(/[:.]/g, '-')}.json`);
  mkdirSync(join(json, '..'), { recursive: true });
  const save = (end) =>
    writeFileSync(json, JSON.stringify({ info, end, config: { NS_LIST, ROUNDS, SECONDS, SAMPLES, CHANGES, CHANGE_GAP_MS, PROBE_US, BULK_PROBE_US, BULK_TIMEOUT_MS, PEERS, KP_EXTRA, CLIENT_CPU, SERVER_CPU }, unavailable, createMs, results }, null, 1));
  try {
    console.log(`lab ${labName}: up`);
    const lab = labUp(labName);
    const net = netSetup(lab, probe);
    const kube = new Kube(join(lab.dir, 'admin.kubeconfig'), kubectl, CREATE_CONCURRENCY);
    onCleanup(() => kube.close());
    const ns = `bench-svc-${suffix}`;
    await kube.must('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const ctx = { lab, net, kube, ns, probe, kubeProxy, kubectl, n: 0 };
    for (const p of PEERS) {
      const impl = peerImpls[p];
      if (!impl) throw new BenchError('BENCH_PEER', `unknown peer ${p}`, 'BENCH_PEERS: kp-iptables, kp-nftables, ours');
      const why = impl.unavailable(ctx);
      if (why) {
        unavailable[p] = why;
        console.log(`${p}: not available yet (${why})`);
      }
    }
    for (const p of PEERS) if (!unavailable[p] && peerImpls[p].prepare) await peerImpls[p].prepare(ctx);
    // Start from clean tables (a previous run killed hard may have left rules in a reused netns: not here, but cheap).
    kpCleanup(ctx);
    let have = 0;
    for (const [k, n] of NS_LIST.entries()) {
      console.log(`N = ${n}: creating services ${have}..${n - 1}`);
      createMs[n] = (createMs[NS_LIST[k - 1]] ?? 0) + (await createServices(kube, ns, have, n));
      have = n;
      console.log(`  ${n} services exist (creation so far ${fmt(createMs[n] / 1000)} s)`);
      // The control plane digests a bulk creation for a while after the last write returns (kcm controllers,
      // the garbage collector's graph): let it settle, so the first peer of this N is not measured on a
      // busier machine than the others.
      if (SETTLE_MS > 0 && n > 1) {
        console.log(`  settling ${SETTLE_MS / 1000} s`);
        await sleep(SETTLE_MS);
      }
      ctx.n = n;
      results[n] = {};
      const avail = PEERS.filter((p) => !unavailable[p]);
      for (let round = 0; round < ROUNDS; round++) {
        const order = avail.map((_, i) => avail[(i + k + round) % avail.length]);
        for (const p of order) {
          console.log(`  ${p} (round ${round + 1}/${ROUNDS})`);
          const r = await runPeer(ctx, peerImpls[p]);
          const acc = (results[n][p] ??= { n, bulkMs: [], bulkCpuS: [], rate: [], changes: {}, changesCpuS: [] });
          if (r.bulkTimeout) acc.bulkTimeout = true;
          acc.bulkMs.push(r.bulkMs);
          acc.bulkCpuS.push(r.bulkCpuS);
          acc.rate.push(...r.rate);
          acc.changesCpuS.push(r.changesCpuS);
          for (const [kind, v] of Object.entries(r.changes)) (acc.changes[kind] ??= []).push(...v);
          if (r.kubeServicesPosition) acc.kubeServicesPosition = r.kubeServicesPosition;
          save(); // what is measured so far survives an interrupted run
        }
      }
    }
    text = report(results, PEERS, unavailable, createMs);
    console.log(text);
  } finally {
    cleanup();
  }
  const end = machineInfo();
  console.log(`\nload average at start ${info.loadavg.join(' ')}, at end ${end.loadavg.join(' ')}`);
  save(end);
  console.log(`results: ${json}`);
}

// `node bench/services.mjs [--json FILE]` (as root): what `make bench-services` runs.
if (import.meta.url === `file://${process.argv[1]}` && process.argv[2] === '--report') {
  // `node bench/services.mjs --report FILE`: the tables of a (possibly partial) results file.
  const d = JSON.parse(readFileSync(process.argv[3] ?? '', 'utf8'));
  const ns = d.config.NS_LIST.filter((n) => d.results[n]);
  for (const r of Object.values(d.results)) for (const x of Object.values(r)) x.bulkMs = x.bulkMs.map((v) => (v === null ? Infinity : v));
  console.log(`run of ${d.info.date}: load average at start ${d.info.loadavg.join(' ')}${d.end ? `, at end ${d.end.loadavg.join(' ')}` : ' (partial)'}`);
  console.log(report(d.results, d.config.PEERS, d.unavailable, d.createMs, ns, d.config.BULK_TIMEOUT_MS));
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const rest = process.argv.slice(2);
  const i = rest.indexOf('--json');
  if (process.getuid?.() !== 0) {
    console.error('bench services: needs root (creates network namespaces, veths, a lab)');
    process.exit(2);
  }
  try {
    await benchServices(i >= 0 ? { json: rest[i + 1] } : {});
  } catch (e) {
    console.error(`bench services: ${e instanceof Error ? e.message : String(e)}`);
    if (e && typeof e === 'object' && 'code' in e) console.error(`code: ${e.code}`);
    process.exit(1);
  }
}
