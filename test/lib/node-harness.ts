/**
 * A throwaway "node" for integration tests: a fresh network namespace running the real
 * bin/cilium-agent (own socket, state dir, bpffs root and host device), and pods (network namespaces
 * under /run/netns) wired by running bin/cilium-cni exactly as a container runtime would, inside the
 * node netns. Everything is uniquely named and removed by stop(), also after a failed start or test
 * (and, as a last resort, on process exit).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { AgentClient } from '@cilium-ts/api';
import { runCni, type CniRun, REPO_ROOT } from './cni-runner.js';
import { addNetns, delNetns, sh, uniqueName } from './netns.js';

export const AGENT_BIN = join(REPO_ROOT, 'bin', 'cilium-agent');
export const HUBBLE_BIN = join(REPO_ROOT, 'bin', 'hubble');
export const DBG_BIN = join(REPO_ROOT, 'bin', 'cilium-dbg');
export const NET_ECHO = join(REPO_ROOT, 'test', 'lib', 'net-echo.mjs');

export interface TestPod {
  containerId: string;
  ifname: string;
  netnsName: string;
  netnsPath: string;
  /** The ADD result as printed by the plugin. */
  result: Record<string, unknown>;
  /** The pod's IPv4 address (no prefix). */
  ip: string;
  cniVersion: string;
}

/** Another node as the agent's --remote-nodes-file lists it. */
export interface RemoteNodeSpec {
  name: string;
  ip: string;
  podCIDRs: string[];
}

export interface NodeOptions {
  podCidr?: string;
  mtu?: number;
  /** Extra agent flags. */
  agentArgs?: string[];
  /** --routing-mode (default: the agent's, tunnel). */
  routingMode?: 'tunnel' | 'native';
  /** --node-ip: this node's underlay address (see Underlay). */
  nodeIp?: string;
  /** Writes this list to <tmp>/remote-nodes.json and passes --remote-nodes-file (change it with setRemoteNodes). */
  remoteNodes?: RemoteNodeSpec[];
  /** Runs once the node netns exists, before the agent starts (e.g. Underlay.attach). */
  prepare?: (node: TestNode) => void;
}

const live = new Set<TestNode>();
process.on('exit', () => {
  for (const n of live) n.stopSync();
});

function isMounted(path: string): boolean {
  try {
    return readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === path);
  } catch {
    return false;
  }
}

export class TestNode {
  readonly id: string;
  readonly netnsName: string;
  readonly netnsPath: string;
  readonly tmpDir: string;
  readonly socketPath: string;
  readonly hubbleSocketPath: string;
  readonly stateDir: string;
  readonly bpfRoot: string;
  readonly hostDevice: string;
  readonly podCidr: string;
  readonly routerIp: string;
  readonly mtu: number;
  readonly agentLog: string;
  readonly remoteNodesFile: string;
  readonly agent: AgentClient;
  readonly pods = new Map<string, TestPod>();
  private readonly podNetns = new Set<string>();
  private readonly children = new Set<ChildProcess>();
  private proc: ChildProcess | undefined;
  private agentArgs: string[] = [];
  private exited: Promise<void> | undefined;
  private stopped = false;

  private constructor(opts: NodeOptions) {
    this.id = uniqueName('');
    this.netnsName = `cnode-${this.id}`;
    this.netnsPath = `/run/netns/${this.netnsName}`;
    this.tmpDir = mkdtempSync(join(tmpdir(), `cilium-ts-node-${this.id}-`));
    this.socketPath = join(this.tmpDir, 'cilium.sock');
    this.hubbleSocketPath = join(this.tmpDir, 'hubble.sock');
    this.stateDir = join(this.tmpDir, 'state');
    this.bpfRoot = join(this.tmpDir, 'bpffs');
    this.hostDevice = `ch_${this.id}`;
    this.podCidr = opts.podCidr ?? `10.${randomInt(100, 200)}.${randomInt(0, 256)}.0/24`;
    const base = this.podCidr.split('/')[0]!.split('.').map(Number);
    this.routerIp = [base[0], base[1], base[2], (base[3] ?? 0) + 1].join('.');
    this.mtu = opts.mtu ?? 1500;
    this.agentLog = join(this.tmpDir, 'agent.log');
    this.remoteNodesFile = join(this.tmpDir, 'remote-nodes.json');
    this.agent = new AgentClient({ socketPath: this.socketPath, timeoutMs: 10_000 });
  }

  /** Creates the node netns and starts the agent in it; waits until /v1/healthz says Ok. */
  static async start(opts: NodeOptions = {}): Promise<TestNode> {
    const n = new TestNode(opts);
    live.add(n);
    try {
      addNetns(n.netnsName);
      mkdirSync(n.stateDir, { recursive: true });
      mkdirSync(n.bpfRoot, { recursive: true });
      const extra: string[] = [];
      if (opts.routingMode !== undefined) extra.push('--routing-mode', opts.routingMode);
      if (opts.nodeIp !== undefined) extra.push('--node-ip', opts.nodeIp);
      if (opts.remoteNodes !== undefined) {
        n.setRemoteNodes(opts.remoteNodes);
        extra.push('--remote-nodes-file', n.remoteNodesFile);
      }
      opts.prepare?.(n);
      n.agentArgs = [...extra, ...(opts.agentArgs ?? [])];
      await n.startAgent(n.agentArgs);
      return n;
    } catch (e) {
      const log = n.agentLogTail();
      await n.stop();
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n--- agent log (tail) ---\n${log}`);
    }
  }

  private async startAgent(extra: string[]): Promise<void> {
    if (!existsSync(AGENT_BIN)) throw new Error(`${AGENT_BIN} is missing: run \`make build\``);
    const fd = openSync(this.agentLog, 'a');
    const args = [
      `--net=${this.netnsPath}`,
      process.execPath,
      AGENT_BIN,
      '--pod-cidr', this.podCidr,
      '--state-dir', this.stateDir,
      '--bpf-root', this.bpfRoot,
      '--socket-path', this.socketPath,
      '--hubble-socket-path', this.hubbleSocketPath,
      '--host-device', this.hostDevice,
      '--node-name', this.netnsName,
      ...extra,
    ];
    // nsenter exec()s the agent: the pid we get is the agent's.
    const p = spawn('nsenter', args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.proc = p;
    this.exited = new Promise((resolve) => p.once('exit', () => resolve()));
    let exitInfo: string | undefined;
    p.once('exit', (code, sig) => {
      exitInfo = `cilium-agent exited (code ${code}, signal ${sig})`;
    });
    const deadline = Date.now() + 60_000;
    let last = '';
    while (Date.now() < deadline) {
      if (exitInfo) throw new Error(`${exitInfo} before becoming ready`);
      try {
        const s = await this.agent.healthz();
        if (s.cilium?.state === 'Ok') return;
        last = `state ${s.cilium?.state}: ${s.cilium?.msg ?? ''}`;
      } catch (e) {
        last = e instanceof Error ? e.message : String(e);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`cilium-agent not ready after 60 s (${last})`);
  }

  /**
   * Kills the agent (SIGKILL by default: no chance to clean up, as a crash) and starts it again with the
   * same flags; resolves once the new agent is healthy.
   */
  async restartAgent(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.proc;
    if (p?.pid !== undefined && p.exitCode === null && p.signalCode === null) {
      p.kill(signal);
      await this.exited;
    }
    await this.startAgent(this.agentArgs);
  }

  /** Kills the agent and waits for it to be gone (restart with restartAgent()). */
  async killAgent(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.proc;
    if (p?.pid !== undefined && p.exitCode === null && p.signalCode === null) {
      p.kill(signal);
      await this.exited;
    }
  }

  /** Rewrites the remote nodes file atomically (the agent watches it). */
  setRemoteNodes(nodes: RemoteNodeSpec[]): void {
    const tmp = `${this.remoteNodesFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(nodes, null, 2));
    renameSync(tmp, this.remoteNodesFile);
  }

  /** `cilium-dbg bpf tunnel list -o json` against this node's agent. */
  tunnelList(): Array<{ prefix: string; tunnelEndpoint: string }> {
    const r = spawnSync(process.execPath, [DBG_BIN, '-H', `unix://${this.socketPath}`, 'bpf', 'tunnel', 'list', '-o', 'json'], { encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) throw new Error(`cilium-dbg bpf tunnel list exited ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Array<{ prefix: string; tunnelEndpoint: string }>;
  }

  get agentPid(): number | undefined {
    return this.proc?.pid;
  }

  agentLogTail(lines = 60): string {
    try {
      return readFileSync(this.agentLog, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no agent log)';
    }
  }

  /** The plugin config as a runtime would pass it (conflist `name`/`cniVersion` injected). */
  cniConfig(over: Record<string, unknown> = {}): Record<string, unknown> {
    return { cniVersion: '1.1.0', name: 'cilium', type: 'cilium-cni', 'socket-path': this.socketPath, mtu: this.mtu, 'enable-debug': true, ...over };
  }

  /** Runs the plugin inside the node netns for `pod` (or a raw invocation). */
  cni(command: string, pod: Pick<TestPod, 'containerId' | 'ifname' | 'netnsPath'>, o: { config?: Record<string, unknown>; prevResult?: Record<string, unknown>; cniVersion?: string } = {}): Promise<CniRun> {
    const config = { ...this.cniConfig(o.cniVersion ? { cniVersion: o.cniVersion } : {}), ...(o.config ?? {}) };
    if (o.prevResult) config['prevResult'] = o.prevResult;
    return runCni({
      command,
      config,
      containerId: pod.containerId,
      netns: pod.netnsPath,
      ifname: pod.ifname,
      args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod.containerId.slice(0, 20)}`,
      nodeNetns: this.netnsPath,
    });
  }

  /** Creates a pod netns (registered for cleanup) without running the plugin. */
  newPodNetns(): { netnsName: string; netnsPath: string } {
    const netnsName = `cpod-${uniqueName('')}`;
    this.podNetns.add(netnsName);
    return { netnsName, netnsPath: addNetns(netnsName) };
  }

  /** Creates a pod netns and runs CNI ADD; throws with the plugin's error if ADD fails. */
  async addPod(o: { ifname?: string; cniVersion?: string; containerId?: string } = {}): Promise<TestPod> {
    const ns = this.newPodNetns();
    const containerId = o.containerId ?? uniqueName('ctr');
    const ifname = o.ifname ?? 'eth0';
    const cniVersion = o.cniVersion ?? '1.1.0';
    const r = await this.cni('ADD', { containerId, ifname, netnsPath: ns.netnsPath }, { cniVersion });
    if (r.exitCode !== 0 || !r.json) {
      throw new Error(`CNI ADD ${containerId} failed (exit ${r.exitCode}): ${r.stdout}\n${r.stderr.slice(-3000)}\n--- agent log ---\n${this.agentLogTail(30)}`);
    }
    const ips = r.json['ips'] as Array<{ address: string }>;
    const ip = ips[0]?.address.split('/')[0] ?? '';
    const pod: TestPod = { containerId, ifname, ...ns, result: r.json, ip, cniVersion };
    this.pods.set(containerId, pod);
    return pod;
  }

  /** Runs CNI DEL for the pod (the netns stays until stop() or removePodNetns). */
  async delPod(pod: TestPod): Promise<CniRun> {
    const r = await this.cni('DEL', pod, { prevResult: pod.result, cniVersion: pod.cniVersion });
    if (r.exitCode === 0) this.pods.delete(pod.containerId);
    return r;
  }

  removePodNetns(pod: Pick<TestPod, 'netnsName'>): void {
    delNetns(pod.netnsName);
    this.podNetns.delete(pod.netnsName);
  }

  /** Runs a command in a netns synchronously (nsenter --net, no mount ns games). */
  exec(netnsPath: string, cmd: string, args: string[], timeoutMs = 20_000): { code: number; stdout: string; stderr: string } {
    const r = spawnSync('nsenter', [`--net=${netnsPath}`, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs });
    return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
  }

  /** Starts an echo server (net-echo.mjs) in a netns; resolves once it listens. Killed by stop(). */
  async startEchoServer(netnsPath: string, proto: 'tcp' | 'udp', port: number, host = '0.0.0.0'): Promise<ChildProcess> {
    const p = spawn('nsenter', [`--net=${netnsPath}`, process.execPath, NET_ECHO, `${proto}-server`, String(port), host], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(p);
    p.once('exit', () => this.children.delete(p));
    await new Promise<void>((resolve, reject) => {
      let err = '';
      const t = setTimeout(() => reject(new Error(`${proto} echo server in ${netnsPath} did not start: ${err}`)), 10_000);
      p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      p.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(t);
          resolve();
        }
      });
      p.once('exit', (c) => {
        clearTimeout(t);
        reject(new Error(`${proto} echo server exited ${c}: ${err}`));
      });
    });
    return p;
  }

  /** Runs an echo client in a netns; returns what came back. */
  echo(netnsPath: string, proto: 'tcp' | 'udp', host: string, port: number, msg: string): { code: number; stdout: string; stderr: string } {
    return this.exec(netnsPath, process.execPath, [NET_ECHO, `${proto}-client`, host, String(port), msg]);
  }

  /** `hubble observe --last N -o json` against this node's Hubble socket: one object per line. */
  observe(last = 100): Array<Record<string, unknown>> {
    const r = spawnSync(process.execPath, [HUBBLE_BIN, 'observe', '--server', `unix://${this.hubbleSocketPath}`, '--last', String(last), '-o', 'json'], { encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) throw new Error(`hubble observe exited ${r.status}: ${r.stderr}`);
    return r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** `cilium-dbg bpf ct list global -o json` against this node's agent. */
  ctList(): Array<Record<string, unknown>> {
    const r = spawnSync(process.execPath, [DBG_BIN, '-H', `unix://${this.socketPath}`, 'bpf', 'ct', 'list', 'global', '-o', 'json'], { encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) throw new Error(`cilium-dbg bpf ct list exited ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Array<Record<string, unknown>>;
  }

  /** Names of lxc* links in the node netns. */
  lxcLinks(): string[] {
    return sh('ip', ['-n', this.netnsName, '-j', 'link', 'show'])
      .trim()
      .replace(/^$/, '[]')
      .split('\n')
      .flatMap((l) => JSON.parse(l) as Array<{ ifname: string }>)
      .map((l) => l.ifname)
      .filter((n) => n.startsWith('lxc'));
  }

  /** Stops everything this node created. Safe to call twice and after a failed start. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    for (const c of this.children) c.kill('SIGKILL');
    const p = this.proc;
    if (p?.pid !== undefined && p.exitCode === null && p.signalCode === null) {
      p.kill('SIGTERM');
      const done = await Promise.race([this.exited!.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
      if (!done) {
        p.kill('SIGKILL');
        await this.exited;
      }
    }
    this.stopSync();
  }

  /** Synchronous part of stop() (also used from the process 'exit' hook). */
  stopSync(): void {
    if (this.stopped) return;
    this.stopped = true;
    live.delete(this);
    for (const c of this.children) c.kill('SIGKILL');
    const p = this.proc;
    if (p?.pid !== undefined && p.exitCode === null && p.signalCode === null) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const ns of this.podNetns) delNetns(ns);
    this.podNetns.clear();
    delNetns(this.netnsName);
    for (let i = 0; i < 5 && isMounted(this.bpfRoot); i++) {
      spawnSync('umount', [this.bpfRoot]);
      if (isMounted(this.bpfRoot)) spawnSync('umount', ['-l', this.bpfRoot]);
    }
    if (!isMounted(this.bpfRoot)) rmSync(this.tmpDir, { recursive: true, force: true });
  }
}

export type { CniRun };

/**
 * An underlay network for several TestNodes: a bridge in a netns of its own; attach() gives a node an
 * interface `ul0` on it with an address of 172.30.0.0/24 (all inside namespaces this creates).
 */
export class Underlay {
  readonly id = uniqueName('');
  readonly netnsName = `cul-${this.id}`;
  readonly bridge = 'br0';
  readonly prefix = '172.30.0';
  private destroyed = false;

  private constructor() {}

  static create(): Underlay {
    const u = new Underlay();
    underlays.add(u);
    addNetns(u.netnsName);
    sh('ip', ['-n', u.netnsName, 'link', 'add', u.bridge, 'type', 'bridge']);
    sh('ip', ['-n', u.netnsName, 'link', 'set', u.bridge, 'up']);
    return u;
  }

  /** The underlay address of host number n (1..254). */
  ip(n: number): string {
    return `${this.prefix}.${n}`;
  }

  /** Wires the node's netns to the bridge: `ul0` with ip(n)/24. */
  attach(node: Pick<TestNode, 'netnsName'>, n: number): string {
    const port = `p${n}-${this.id}`;
    sh('ip', ['-n', this.netnsName, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'ul0', 'netns', node.netnsName]);
    sh('ip', ['-n', this.netnsName, 'link', 'set', port, 'master', this.bridge, 'up']);
    sh('ip', ['-n', node.netnsName, 'addr', 'add', `${this.ip(n)}/24`, 'dev', 'ul0']);
    sh('ip', ['-n', node.netnsName, 'link', 'set', 'ul0', 'up']);
    return this.ip(n);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    underlays.delete(this);
    delNetns(this.netnsName);
  }
}

const underlays = new Set<Underlay>();
process.on('exit', () => {
  for (const u of underlays) u.destroy();
});
