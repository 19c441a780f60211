// B1 (notes/performance-anchors.md): pod-to-pod TCP on one node, our datapath vs plain veth routing.
//
//   O   our stack: bin/cilium-agent in a node netns, two pods created by bin/cilium-cni (invoked as a
//       runtime does), traffic through bpf_lxc (bpf_redirect_peer between local pods), Hubble on at the
//       agent's default monitor aggregation (medium).
//   P1  the same topology with no BPF: node netns, two pod netns, veth pairs, pod IP/32, /32 host routes,
//       the same static neighbours our CNI installs, ip_forward=1 in the node netns.
//
// Metrics: TCP_RR (sockperf ping-pong, 64 B), TCP_STREAM (iperf3, 1 stream), TCP_CRR (bench/tools/tcp-crr.c).
// Client pinned to CPU0, servers to CPU1 (override with BENCH_CLIENT_CPU / BENCH_SERVER_CPU, '' = unpinned).
// Samples are interleaved O/P1 per metric; medians, min–max and ratios O/P1 are printed.
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import {
  BenchError, cleanup, cniCall, cpuSeconds, cniSync, fmt, inNetns, ipn, linkInfo, machineInfo, max, median, min, netnsAdd,
  onCleanup, root, run, sleep, spread, startAgent, startProcess, suffix, sysctl, table, tcpCrrBinary, tmpDir,
} from './lib/common.mjs';
import { join } from 'node:path';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 3);
const cpuEnv = (k, d) => (process.env[k] === undefined ? d : process.env[k] === '' ? undefined : Number(process.env[k]));
const CLIENT_CPU = cpuEnv('BENCH_CLIENT_CPU', 0);
const SERVER_CPU = cpuEnv('BENCH_SERVER_CPU', 1);
const PAUSED = process.env.BENCH_PAUSED_AGENT !== '0';
const PORT_RR = 11111;
const PORT_STREAM = 5201;
const PORT_CRR = 12865;

const rnd = () => randomBytes(1)[0];
function cidr24(avoid) {
  for (;;) {
    const c = `10.${200 + (rnd() % 50)}.${rnd()}.0/24`;
    if (c !== avoid) return c;
  }
}
const router = (cidr) => cidr.replace(/0\/24$/, '1');

function tune(ns) {
  ipn(ns, ['link', 'set', 'lo', 'up']);
  // The CRR client opens tens of thousands of connections: same settings in both configs.
  sysctl(ns, 'net.ipv4.tcp_tw_reuse', 1);
  sysctl(ns, 'net.ipv4.ip_local_port_range', '1024 65535');
}

/** O: our agent + CNI. */
export async function setupOurs() {
  const dir = tmpDir('dp-o');
  const cidr = cidr24();
  const node = `cts-bo-n-${suffix}`;
  const pods = [`cts-bo-a-${suffix}`, `cts-bo-b-${suffix}`];
  netnsAdd(node);
  for (const p of pods) netnsAdd(p);
  const agent = await startAgent({ nodeNs: node, podCidr: cidr, dir, hostDevice: `coh${suffix}` });
  const conf = { cniVersion: '1.1.0', name: `bench-o-${suffix}`, type: 'cilium-cni', 'socket-path': agent.sock };
  const ips = [];
  const hostVeths = [];
  for (const [i, p] of pods.entries()) {
    const call = (command) =>
      cniCall({
        plugin: join(root, 'bin', 'cilium-cni'), command, containerId: `bench-o-${suffix}-${i}`,
        netnsPath: `/run/netns/${p}`, cniPath: join(root, 'bin'), conf, nodeNs: node,
      });
    const res = JSON.parse(cniSync(call('ADD')).stdout);
    // DEL before the agent stops (cleanup is LIFO).
    onCleanup(() => {
      try {
        cniSync(call('DEL'));
      } catch (e) {
        console.error(e instanceof Error ? e.message : String(e));
      }
    });
    ips.push(res.ips[0].address.split('/')[0]);
    hostVeths.push(res.interfaces.find((x) => !x.sandbox).name);
    tune(p);
  }
  // Prove the traffic will go through our programs: bpf on both directions of each host veth.
  for (const v of hostVeths) {
    for (const dir of ['ingress', 'egress']) {
      const out = run('tc', ['-n', node, 'filter', 'show', 'dev', v, dir]).stdout;
      if (!/bpf/.test(out)) throw new BenchError('BENCH_NO_BPF', `no BPF program on ${v} ${dir} in ${node}`, 'the agent did not attach bpf_lxc');
    }
  }
  return { name: 'O', node, client: pods[0], server: pods[1], serverIp: ips[1], agent, note: `agent pid ${agent.proc.pid}, veths ${hostVeths.join(',')}` };
}

/** P1: plain veth + host routing, no BPF, static neighbours like ours. */
export function setupPlain(avoid) {
  const cidr = cidr24(avoid);
  const gw = router(cidr);
  const node = `cts-bp-n-${suffix}`;
  const pods = [`cts-bp-a-${suffix}`, `cts-bp-b-${suffix}`];
  netnsAdd(node);
  for (const p of pods) netnsAdd(p);
  ipn(node, ['link', 'set', 'lo', 'up']);
  sysctl(node, 'net.ipv4.ip_forward', 1);
  sysctl(node, 'net.ipv4.conf.all.rp_filter', 0);
  sysctl(node, 'net.ipv4.conf.default.rp_filter', 0);
  // The gateway address only has to be local to the node netns (this kernel has no dummy driver): lo.
  ipn(node, ['addr', 'add', `${gw}/32`, 'dev', 'lo']);
  const ips = [];
  for (const [i, p] of pods.entries()) {
    const ip = gw.replace(/\.1$/, `.${10 + i}`);
    const hv = `pv${suffix}${i}`;
    ipn(node, ['link', 'add', hv, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', p]);
    sysctl(p, 'net.ipv6.conf.all.disable_ipv6', 1);
    ipn(node, ['link', 'set', hv, 'up']);
    ipn(p, ['link', 'set', 'eth0', 'up']);
    ipn(p, ['addr', 'add', `${ip}/32`, 'dev', 'eth0']);
    ipn(p, ['route', 'add', `${gw}/32`, 'dev', 'eth0', 'scope', 'link']);
    ipn(p, ['route', 'add', 'default', 'via', gw, 'dev', 'eth0']);
    const hostMac = linkInfo(node, hv).address;
    const podMac = linkInfo(p, 'eth0').address;
    ipn(p, ['neigh', 'replace', gw, 'dev', 'eth0', 'lladdr', hostMac, 'nud', 'permanent']);
    ipn(node, ['route', 'add', `${ip}/32`, 'dev', hv]);
    ipn(node, ['neigh', 'replace', ip, 'dev', hv, 'lladdr', podMac, 'nud', 'permanent']);
    ips.push(ip);
    tune(p);
  }
  return { name: 'P1', node, client: pods[0], server: pods[1], serverIp: ips[1], cidr, note: 'veth + /32 routes, ip_forward=1, no BPF' };
}

export function startServers(cfg, crr) {
  const s = (argv, label) => {
    const [cmd, args] = inNetns(cfg.server, argv, SERVER_CPU);
    return startProcess(cmd, args, `${cfg.name} ${label}`);
  };
  cfg.servers = [
    s(['sockperf', 'server', '--tcp', '-i', cfg.serverIp, '-p', String(PORT_RR)], 'sockperf'),
    s(['iperf3', '-s', '-B', cfg.serverIp, '-p', String(PORT_STREAM)], 'iperf3'),
    s([crr, 'server', cfg.serverIp, String(PORT_CRR)], 'tcp-crr'),
  ];
}

function client(cfg, argv) {
  const [cmd, args] = inNetns(cfg.client, argv, CLIENT_CPU);
  return run(cmd, args, { timeoutMs: (SECONDS + 60) * 1000 }).stdout;
}

const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
export function measureRR(cfg, seconds = SECONDS) {
  const out = strip(client(cfg, ['sockperf', 'ping-pong', '--tcp', '-i', cfg.serverIp, '-p', String(PORT_RR), '-m', '64', '-t', String(seconds)]));
  const valid = /\[Valid Duration\] RunTime=([\d.]+) sec; SentMessages=(\d+); ReceivedMessages=(\d+)/.exec(out);
  const avg = /avg-latency=([\d.]+)/.exec(out);
  const p50 = /percentile 50\.000 =\s*([\d.]+)/.exec(out);
  const p99 = /percentile 99\.000 =\s*([\d.]+)/.exec(out);
  if (!valid || !avg || !p50 || !p99) throw new BenchError('BENCH_PARSE', `cannot parse sockperf output:\n${out}`);
  return { tps: Number(valid[3]) / Number(valid[1]), avgUs: Number(avg[1]), p50Us: Number(p50[1]), p99Us: Number(p99[1]) };
}
export function measureStream(cfg) {
  const j = JSON.parse(client(cfg, ['iperf3', '-c', cfg.serverIp, '-p', String(PORT_STREAM), '-t', String(SECONDS), '-J']));
  if (j.error) throw new BenchError('BENCH_IPERF', `iperf3: ${j.error}`);
  return { bps: j.end.sum_received.bits_per_second, retransmits: j.end.sum_sent.retransmits ?? 0 };
}
export function measureCRR(cfg, crr) {
  return JSON.parse(client(cfg, [crr, 'client', cfg.serverIp, String(PORT_CRR), String(SECONDS)]));
}

export async function benchDatapath({ json } = {}) {
  for (const t of ['sockperf', 'iperf3', 'taskset', 'nsenter', 'tc']) run('sh', ['-c', `command -v ${t}`]);
  const crr = tcpCrrBinary();
  const info = machineInfo();
  console.log(`B1 datapath: ${SAMPLES} samples x ${SECONDS} s per metric, interleaved O/P1${PAUSED ? '/O-paused' : ''}; client CPU ${CLIENT_CPU ?? 'any'}, server CPU ${SERVER_CPU ?? 'any'}`);
  console.log(`machine: ${info.nproc} CPU (${info.cpu}), kernel ${info.kernel}, bpf_jit_enable=${info.bpfJitEnable}, node ${info.node}, load average ${info.loadavg.join(' ')}`);
  try {
    const O = await setupOurs();
    const P1 = setupPlain();
    // O-paused: the same pods and programs with the agent stopped (SIGSTOP) for the sample: the BPF datapath
    // alone, without the agent's user-space work (Hubble event consumption) competing for the CPUs. Events
    // that do not fit the ring buffer meanwhile are dropped by the datapath, traffic is unaffected.
    const Op = PAUSED ? { ...O, name: 'O-paused', pause: true } : undefined;
    onCleanup(() => {
      try {
        process.kill(O.agent.proc.pid, 'SIGCONT');
      } catch {}
    });
    const servers = [O, P1];
    const cfgs = Op ? [O, P1, Op] : [O, P1];
    for (const c of servers) {
      startServers(c, crr);
      console.log(`${c.name}: server ${c.serverIp} in ${c.server}, client in ${c.client} (${c.note})`);
    }
    await sleep(700);
    Op && (Op.servers = O.servers);
    for (const c of servers) for (const s of c.servers) if (!s.alive()) throw new BenchError('BENCH_SERVER', `${s.label} exited:\n${s.log()}`);
    for (const c of cfgs) measureRR(c, 2); // warm-up (ARP-free paths, caches, CT entries), discarded

    const res = Object.fromEntries(cfgs.map((c) => [c.name, { rr: [], stream: [], crr: [] }]));
    for (let i = 0; i < SAMPLES; i++) {
      for (const [metric, fn] of [['rr', measureRR], ['stream', measureStream], ['crr', (c) => measureCRR(c, crr)]]) {
        // Rotate the order per sample so that no config always runs right after another one.
        for (const c of [...cfgs.slice(i % cfgs.length), ...cfgs.slice(0, i % cfgs.length)]) {
          const pid = c.pause ? undefined : c.agent?.proc.pid;
          const cpu0 = pid === undefined ? NaN : cpuSeconds(pid);
          const t0 = Date.now();
          if (c.pause) process.kill(c.agent.proc.pid, 'SIGSTOP');
          let r;
          try {
            r = fn(c);
          } finally {
            if (c.pause) process.kill(c.agent.proc.pid, 'SIGCONT');
          }
          // The agent's CPU share during the sample (it consumes the flow events on the same 2 cores).
          if (pid !== undefined) r.agentCpu = (cpuSeconds(pid) - cpu0) / ((Date.now() - t0) / 1000);
          res[c.name][metric].push(r);
          const v = metric === 'rr' ? `${fmt(r.tps)} tps, avg ${r.avgUs} us, p99 ${r.p99Us} us` : metric === 'stream' ? `${fmt(r.bps)}bit/s, ${r.retransmits} retransmits` : `${fmt(r.rate)} conn/s, p50 ${r.p50_us} us, p99 ${r.p99_us} us`;
          const a = r.agentCpu === undefined ? '' : `; agent CPU ${(r.agentCpu * 100).toFixed(0)}%`;
          console.log(`  sample ${i + 1}/${SAMPLES} ${metric.padEnd(6)} ${c.name.padEnd(8)}: ${v}${a}`);
        }
      }
    }
    if (O.agent && !O.agent.alive()) throw new BenchError('BENCH_AGENT_EXITED', `the agent died during the run:\n${O.agent.log()}`);

    const pick = (cfg, metric, key) => res[cfg][metric].map((r) => r[key]);
    const rows = [];
    const summary = {};
    const line = (label, metric, key, unit, target, higherIsBetter = true) => {
      const o = pick('O', metric, key);
      const p = pick('P1', metric, key);
      const ratio = higherIsBetter ? median(o) / median(p) : median(p) / median(o);
      const flag = Math.max(spread(o), spread(p)) > 0.1 ? ' (spread>10%)' : '';
      const pass = target === undefined ? '' : ratio >= target ? 'PASS' : 'FAIL';
      const q = Op ? pick('O-paused', metric, key) : [];
      const ratioQ = Op ? (higherIsBetter ? median(q) / median(p) : median(p) / median(q)) : NaN;
      rows.push([
        label, unit,
        `${fmt(median(o))} (${fmt(min(o))}–${fmt(max(o))})`,
        `${fmt(median(p))} (${fmt(min(p))}–${fmt(max(p))})`,
        `${ratio.toFixed(3)}${flag}`, target === undefined ? '' : `>= ${target}`, pass,
        ...(Op ? [`${fmt(median(q))} (${fmt(min(q))}–${fmt(max(q))})`, ratioQ.toFixed(3)] : []),
      ]);
      summary[label] = { unit, O: o, P1: p, ratio, target: target ?? null, ...(Op ? { Opaused: q, ratioPaused: ratioQ } : {}) };
    };
    line('TCP_RR (sockperf 64 B)', 'rr', 'tps', 'trans/s', 0.95);
    line('  latency avg (half RTT)', 'rr', 'avgUs', 'us', undefined, false);
    line('  latency p50 (half RTT)', 'rr', 'p50Us', 'us', undefined, false);
    line('  latency p99 (half RTT)', 'rr', 'p99Us', 'us', undefined, false);
    line('TCP_STREAM (iperf3, 1 stream)', 'stream', 'bps', 'bit/s', 0.9);
    line('TCP_CRR (tcp-crr, 1 proc)', 'crr', 'rate', 'conn/s', 0.95);
    line('  connect+1B+close p50', 'crr', 'p50_us', 'us', undefined, false);
    line('  connect+1B+close p99', 'crr', 'p99_us', 'us', undefined, false);
    const agentCpu = Object.fromEntries(['rr', 'stream', 'crr'].map((mt) => [mt, median(pick('O', mt, 'agentCpu'))]));
    summary.agentCpu = agentCpu;
    console.log('');
    console.log(table(['metric', 'unit', 'O median (min–max)', 'P1 median (min–max)', 'O/P1', 'target', '', ...(Op ? ['O-paused median (min–max)', 'O-paused/P1'] : [])], rows));
    console.log('O/P1 > 1 means ours is better (latency rows: P1/O).');
    console.log(`agent CPU during O samples (median, 100% = one core): RR ${(agentCpu.rr * 100).toFixed(0)}%, STREAM ${(agentCpu.stream * 100).toFixed(0)}%, CRR ${(agentCpu.crr * 100).toFixed(0)}%`);
    const out = { bench: 'B1-datapath', machine: info, seconds: SECONDS, samples: SAMPLES, clientCpu: CLIENT_CPU ?? null, serverCpu: SERVER_CPU ?? null, summary };
    out.loadavgEnd = machineInfo().loadavg;
    console.log(`load average at the end: ${out.loadavgEnd.join(' ')} (other work on the machine makes the figures noisy)`);
    if (json) writeFileSync(json, JSON.stringify(out, null, 2));
    return out;
  } finally {
    cleanup();
  }
}
