// Shared helpers of the benchmarks: processes, netns, the agent, statistics, tables.
// Every kernel object a benchmark creates carries the run's random suffix and is removed by cleanup().
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { cpus, homedir, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const suffix = randomBytes(3).toString('hex');
export const cacheDir = process.env.CILIUM_TS_CACHE ?? join(homedir(), '.cache', 'cilium-ts');

export class BenchError extends Error {
  constructor(code, message, hint) {
    super(`${message}${hint ? `\nhint: ${hint}` : ''}`);
    this.name = 'BenchError';
    this.code = code;
    this.hint = hint;
  }
}

/** Runs a command synchronously; throws BenchError unless it exits 0 (or allowFail). */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    input: opts.input ?? '',
    env: opts.env ?? process.env,
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw new BenchError('BENCH_SPAWN', `${cmd} ${args.join(' ')}: ${r.error.message}`, `is ${cmd} installed?`);
  if (!opts.allowFail && r.status !== 0) {
    throw new BenchError('BENCH_CMD_FAILED', `${cmd} ${args.join(' ')} exited ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return r;
}

/** Runs a command asynchronously; resolves with status, output and wall time in ms (hrtime). */
export function runAsync(cmd, args, opts = {}) {
  return new Promise((res, rej) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => (stdout += c));
    p.stderr.on('data', (c) => (stderr += c));
    p.on('error', rej);
    p.on('close', (status) => res({ status, stdout, stderr, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    p.stdin.end(opts.input ?? '');
  });
}

/** Times a synchronous command in ms. */
export function timed(cmd, args, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = run(cmd, args, opts);
  return { ...r, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- cleanup registry (LIFO)
const cleanups = [];
export function onCleanup(fn) {
  cleanups.push(fn);
}
export function cleanup() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      fn();
    } catch (e) {
      console.error(`cleanup: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    console.error(`\n${sig}: cleaning up`);
    cleanup();
    process.exit(130);
  });
}

// ---------------------------------------------------------------- netns and processes
export function netnsAdd(name) {
  const r = timed('ip', ['netns', 'add', name]);
  onCleanup(() => spawnSync('ip', ['netns', 'del', name]));
  return r.ms;
}

export function ipn(ns, args) {
  return run('ip', ['-n', ns, ...args]);
}

export function sysctl(ns, key, value) {
  run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `${key}=${value}`]);
}

export function linkInfo(ns, name) {
  const [l] = JSON.parse(run('ip', ['-n', ns, '-j', 'link', 'show', 'dev', name]).stdout);
  if (!l) throw new BenchError('BENCH_NO_LINK', `no link ${name} in netns ${ns}`);
  return l;
}

function pidRunning(pid) {
  if (pid === undefined) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** CPU seconds (user + system, all threads) a process has used so far; NaN if it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in USER_HZ (100)
  } catch {
    return NaN;
  }
}

/**
 * Starts a long-running process (servers, the agent); it is killed by pid at cleanup. Its output goes to a
 * file, not a pipe: a pipe nobody drains while the bench blocks in a synchronous call would fill up and
 * stall the process on its next write.
 */
export function startProcess(cmd, args, label) {
  const logFile = join(mkdtempSync(join(tmpdir(), 'cts-bench-log-')), 'out.log');
  const fd = openSync(logFile, 'a');
  const p = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  onCleanup(() => rmSync(dirname(logFile), { recursive: true, force: true }));
  const handle = {
    proc: p,
    label,
    log,
    alive: () => p.exitCode === null && p.signalCode === null && pidRunning(p.pid),
    // Synchronous (usable from a signal handler): the event loop does not run here, so liveness is read
    // from /proc (a zombie counts as gone).
    stop: () => {
      if (p.pid !== undefined && handle.alive()) {
        try {
          process.kill(p.pid, 'SIGTERM');
        } catch {}
        const t = Date.now();
        while (pidRunning(p.pid) && Date.now() - t < 3000) spawnSync('sleep', ['0.05']);
        if (pidRunning(p.pid)) {
          try {
            process.kill(p.pid, 'SIGKILL');
          } catch {}
        }
      }
    },
  };
  onCleanup(handle.stop);
  return handle;
}

export function inNetns(ns, argv, cpu) {
  const pin = cpu === undefined ? [] : ['taskset', '-c', String(cpu)];
  return ['nsenter', [`--net=/run/netns/${ns}`, '--', ...pin, ...argv]];
}

export function tmpDir(label) {
  const d = mkdtempSync(join(tmpdir(), `cts-bench-${label}-${suffix}-`));
  onCleanup(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

// ---------------------------------------------------------------- the agent
function httpGet(socketPath, path) {
  return new Promise((res, rej) => {
    const req = request({ socketPath, path, method: 'GET', timeout: 2000 }, (resp) => {
      let body = '';
      resp.on('data', (c) => (body += c));
      resp.on('end', () => res({ status: resp.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
    req.end();
  });
}

export function requireBinaries() {
  for (const b of ['cilium-agent', 'cilium-cni']) {
    if (!existsSync(join(root, 'bin', b))) {
      throw new BenchError('BENCH_NO_BINARY', `bin/${b} is missing`, 'run `make build` first');
    }
  }
}

/**
 * Starts bin/cilium-agent inside node netns `nodeNs` with private paths under `dir`; waits for /v1/healthz.
 * Extra agent flags come from BENCH_AGENT_ARGS (space separated).
 */
export async function startAgent({ nodeNs, podCidr, dir, hostDevice }) {
  requireBinaries();
  const bpfRoot = join(dir, 'bpffs');
  const stateDir = join(dir, 'state');
  mkdirSync(bpfRoot, { recursive: true });
  mkdirSync(stateDir, { recursive: true });
  onCleanup(() => spawnSync('umount', ['-l', bpfRoot]));
  const sock = join(dir, 'cilium.sock');
  const extra = (process.env.BENCH_AGENT_ARGS ?? '').split(/\s+/).filter(Boolean);
  const [cmd, args] = inNetns(nodeNs, [
    process.execPath, join(root, 'bin', 'cilium-agent'),
    '--pod-cidr', podCidr,
    '--state-dir', stateDir,
    '--bpf-root', bpfRoot,
    '--socket-path', sock,
    '--hubble-socket-path', join(dir, 'hubble.sock'),
    '--host-device', hostDevice,
    ...extra,
  ]);
  const agent = startProcess(cmd, args, 'cilium-agent');
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (!agent.alive()) throw new BenchError('BENCH_AGENT_EXITED', `cilium-agent exited before it was healthy:\n${agent.log()}`);
    const h = await httpGet(sock, '/v1/healthz').catch(() => undefined);
    if (h?.status === 200) break;
    if (Date.now() > deadline) throw new BenchError('BENCH_AGENT_TIMEOUT', `cilium-agent not healthy after 30 s:\n${agent.log()}`);
    await sleep(100);
  }
  return { ...agent, sock, bpfRoot, stateDir };
}

// ---------------------------------------------------------------- CNI invocation (as a runtime does)
/** Argv + env + stdin of one plugin invocation from inside the node netns (nsenter, as a node-local runtime). */
export function cniCall({ plugin, command, containerId, netnsPath, ifName = 'eth0', cniPath, conf, nodeNs }) {
  const [cmd, args] = inNetns(nodeNs, [plugin]);
  const env = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: netnsPath,
    CNI_IFNAME: ifName,
    CNI_PATH: cniPath,
  };
  return { cmd, args, env, input: JSON.stringify(conf) };
}

export function cniSync(call) {
  const t0 = process.hrtime.bigint();
  const r = run(call.cmd, call.args, { env: call.env, input: call.input, allowFail: true });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) {
    throw new BenchError('BENCH_CNI_FAILED', `${call.env.CNI_COMMAND} ${call.args.at(-1)} (${call.env.CNI_CONTAINERID}) exited ${r.status}: ${r.stdout}${r.stderr}`);
  }
  return { ms, stdout: r.stdout };
}

export async function cniAsync(call) {
  const r = await runAsync(call.cmd, call.args, { env: call.env, input: call.input });
  if (r.status !== 0) {
    throw new BenchError('BENCH_CNI_FAILED', `${call.env.CNI_COMMAND} ${call.args.at(-1)} (${call.env.CNI_CONTAINERID}) exited ${r.status}: ${r.stdout}${r.stderr}`);
  }
  return r;
}

/** Builds (cached) the reference plugins and cnitool; returns their bin dir. */
export function goTools() {
  const r = run('bash', [join(root, 'scripts', 'build-go-tools.sh')], { timeoutMs: 600_000 });
  return r.stdout.trim().split('\n').at(-1);
}

// ---------------------------------------------------------------- statistics and output
export function percentile(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i];
}
export const median = (xs) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const min = (xs) => Math.min(...xs);
export const max = (xs) => Math.max(...xs);
/** (max - min) / median */
export const spread = (xs) => (max(xs) - min(xs)) / median(xs);

export function fmt(x, digits = 2) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '-';
  if (Math.abs(x) >= 1e9) return `${(x / 1e9).toFixed(digits)}G`;
  if (Math.abs(x) >= 1e6) return `${(x / 1e6).toFixed(digits)}M`;
  if (Math.abs(x) >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(digits);
}

export function table(headers, rows) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => `| ${r.map((c, i) => String(c).padEnd(w[i])).join(' | ')} |`;
  return [line(headers), `| ${w.map((n) => '-'.repeat(n)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

export function machineInfo() {
  const read = (p) => {
    try {
      return readFileSync(p, 'utf8').trim();
    } catch {
      return 'n/a';
    }
  };
  return {
    date: new Date().toISOString(),
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? 'n/a',
    kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(),
    bpfJitEnable: read('/proc/sys/net/core/bpf_jit_enable'),
    governor: read('/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor'),
    node: process.version,
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

/** Compiles bench/tools/tcp-crr.c into the cache (rebuilt when the source is newer). */
export function tcpCrrBinary() {
  const src = join(root, 'bench', 'tools', 'tcp-crr.c');
  const out = join(cacheDir, 'bench', 'tcp-crr');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(dirname(out), { recursive: true });
    run('cc', ['-O2', '-Wall', '-o', out, src]);
  }
  return out;
}
