// Hubble Relay across two real agents: two node netns on an underlay bridge, one cilium-agent each with its
// Hubble TCP listener (:4244 inside its netns) and the other node in its --remote-nodes-file; bin/hubble-relay
// in a third netns on the same underlay, pointed at node 1's peer service (172.30.0.1:4244). Pod traffic on
// both nodes; `hubble observe/status --server <relay>` must see both nodes, and keep serving node 1 once
// node 2's agent is killed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './lib/cni-runner.js';
import { addNetns, delNetns, uniqueName } from './lib/netns.js';
import { HUBBLE_BIN, TestNode, Underlay, type TestPod } from './lib/node-harness.js';

const RELAY_BIN = join(REPO_ROOT, 'bin', 'hubble-relay');
const UI_BIN = join(REPO_ROOT, 'bin', 'hubble-ui');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    await sleep(300);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last instanceof Error ? last.message : String(last)}` : ''}`);
}

interface FlowLine {
  flow?: { node_name?: string; time?: string; IP?: { source?: string; destination?: string } };
  node_name?: string;
}

/** Runs bin/hubble in a netns against `server`. */
function hubble(netnsPath: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('nsenter', [`--net=${netnsPath}`, process.execPath, HUBBLE_BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

function observe(netnsPath: string, server: string, last = 2000): FlowLine[] {
  const r = hubble(netnsPath, ['observe', '--server', server, '--last', String(last), '-o', 'json']);
  if (r.code !== 0) throw new Error(`hubble observe exited ${r.code}: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as FlowLine);
}

interface StatusJson {
  num_connected_nodes?: number;
  num_unavailable_nodes?: number;
  unavailable_nodes?: string[];
  num_flows?: string;
  seen_flows?: string;
}

function status(netnsPath: string, server: string): StatusJson {
  const r = hubble(netnsPath, ['status', '--server', server, '-o', 'json']);
  if (r.code !== 0) throw new Error(`hubble status exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as StatusJson;
}

/** bin/hubble-relay serve (or another of our binaries) in a netns, its output in a temp log. */
class Relay {
  proc: ChildProcess | undefined;
  readonly log: string;
  constructor(
    readonly netnsPath: string,
    readonly args: string[],
    readonly argv0: string[] = [RELAY_BIN, 'serve'],
  ) {
    this.log = join(tmpdir(), `hubble-relay-${uniqueName('')}.log`);
  }
  start(): void {
    const fd = openSync(this.log, 'a');
    // nsenter exec()s node: the pid is the relay's
    this.proc = spawn('nsenter', [`--net=${this.netnsPath}`, process.execPath, ...this.argv0, ...this.args], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
  }
  tail(): string {
    try {
      return readFileSync(this.log, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '(no relay log)';
    }
  }
  async stop(): Promise<void> {
    const p = this.proc;
    if (p?.pid !== undefined && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
    rmSync(this.log, { force: true });
  }
}

describe('hubble-relay over two agents', () => {
  let ul: Underlay;
  let n1: TestNode;
  let n2: TestNode;
  const relayNs = `crelay-${uniqueName('')}`;
  const relayNsPath = `/run/netns/${relayNs}`;
  let relay: Relay;
  let unixRelay: Relay;
  const RELAY = '127.0.0.1:4245';
  const pods: Record<string, [TestPod, TestPod]> = {};
  const a = randomInt(100, 200);
  const cidr1 = `10.${a}.11.0/24`;
  const cidr2 = `10.${a}.12.0/24`;

  const traffic = (n: TestNode, tag: string): void => {
    const [client, server] = pods[n.netnsName]!;
    const r = n.echo(client.netnsPath, 'tcp', server.ip, 7300, tag);
    expect(r.stdout, r.stderr).toBe(tag);
  };

  beforeAll(async () => {
    ul = Underlay.create();
    const ip1 = ul.ip(1);
    const ip2 = ul.ip(2);
    const hubbleArgs = ['--hubble-listen-address', ':4244'];
    [n1, n2] = await Promise.all([
      TestNode.start({ podCidr: cidr1, nodeIp: ip1, remoteNodes: [], agentArgs: hubbleArgs, prepare: (n) => ul.attach(n, 1) }),
      TestNode.start({ podCidr: cidr2, nodeIp: ip2, remoteNodes: [], agentArgs: hubbleArgs, prepare: (n) => ul.attach(n, 2) }),
    ]);
    n1.setRemoteNodes([{ name: n2.netnsName, ip: ip2, podCIDRs: [cidr2] }]);
    n2.setRemoteNodes([{ name: n1.netnsName, ip: ip1, podCIDRs: [cidr1] }]);
    for (const n of [n1, n2]) {
      const [c, s] = await Promise.all([n.addPod(), n.addPod()]);
      pods[n.netnsName] = [c, s];
      await n.startEchoServer(s.netnsPath, 'tcp', 7300);
    }
    addNetns(relayNs);
    ul.attach({ netnsName: relayNs }, 3);
    relay = new Relay(relayNsPath, ['--peer-service', `${ip1}:4244`, '--listen-address', RELAY, '--dial-timeout', '2s', '--retry-timeout', '1s', '--sort-buffer-drain-timeout', '200ms']);
    relay.start();
    // the same relay code against the unix socket of node 1 (a relay next to its agent)
    unixRelay = new Relay(n1.netnsPath, ['--peer-service', `unix://${n1.hubbleSocketPath}`, '--listen-address', '127.0.0.1:4246', '--dial-timeout', '2s', '--retry-timeout', '1s']);
    unixRelay.start();
  }, 180_000);

  afterAll(async () => {
    await Promise.all([relay?.stop(), unixRelay?.stop()]);
    await Promise.all([n1?.stop(), n2?.stop()]);
    delNetns(relayNs);
    ul?.destroy();
  });

  it('connects to both nodes found through the peer service', async () => {
    const s = await until('relay: 2 connected nodes', () => {
      const st = status(relayNsPath, RELAY);
      return st.num_connected_nodes === 2 ? st : undefined;
    }).catch((e: unknown) => {
      throw new Error(`${String(e)}\n--- relay log ---\n${relay.tail()}\n--- agent 1 log ---\n${n1.agentLogTail(20)}`);
    });
    expect(s.num_unavailable_nodes ?? 0).toBe(0);
  }, 120_000);

  it('GetFlows returns flows of both nodes, ordered by time', async () => {
    traffic(n1, 'relay-node-1');
    traffic(n2, 'relay-node-2');
    const lines = await until('flows of both nodes through the relay', () => {
      const l = observe(relayNsPath, RELAY);
      const nodes = new Set(l.map((x) => x.flow?.node_name));
      return nodes.has(n1.netnsName) && nodes.has(n2.netnsName) ? l : undefined;
    });
    const [c1, s1] = pods[n1.netnsName]!;
    const [c2, s2] = pods[n2.netnsName]!;
    const pair = (x: FlowLine, src: string, dst: string) => x.flow?.IP?.source === src && x.flow?.IP?.destination === dst;
    expect(lines.some((x) => x.flow?.node_name === n1.netnsName && pair(x, c1.ip, s1.ip))).toBe(true);
    expect(lines.some((x) => x.flow?.node_name === n2.netnsName && pair(x, c2.ip, s2.ip))).toBe(true);
    const times = lines.map((x) => Date.parse(x.flow?.time ?? ''));
    expect(times.every((t, i) => i === 0 || t >= times[i - 1]!)).toBe(true);
    // --last N is the last N of the merged stream
    expect(observe(relayNsPath, RELAY, 3)).toHaveLength(3);
    // ServerStatus sums the nodes' rings
    // (the nodes first: seen counters only grow, so the relay's later sum is at least theirs)
    const st1 = status(n1.netnsPath, `unix://${n1.hubbleSocketPath}`);
    const st2 = status(n2.netnsPath, `unix://${n2.hubbleSocketPath}`);
    const st = status(relayNsPath, RELAY);
    expect(Number(st.seen_flows)).toBeGreaterThanOrEqual(Number(st1.seen_flows) + Number(st2.seen_flows));
    expect(Number(st1.seen_flows)).toBeGreaterThan(0);
    expect(Number(st2.seen_flows)).toBeGreaterThan(0);
  }, 120_000);

  /** `hubble observe --follow -o json` through the relay; the node names seen so far. */
  const followFlows = (filters: string[]): { seen: Set<string>; stop: () => void } => {
    const p = spawn('nsenter', [`--net=${relayNsPath}`, process.execPath, HUBBLE_BIN, 'observe', '--server', RELAY, '--follow', '-o', 'json', ...filters], { stdio: ['ignore', 'pipe', 'pipe'] });
    const seen = new Set<string>();
    let buf = '';
    p.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) seen.add((JSON.parse(l) as FlowLine).flow?.node_name ?? '');
    });
    return { seen, stop: () => p.kill('SIGKILL') };
  };

  it('follow streams new flows of both nodes', async () => {
    const follower = followFlows(['--to-port', '7300']);
    try {
      await until('both nodes in the follow stream', () => {
        traffic(n1, 'follow-1');
        traffic(n2, 'follow-2');
        return follower.seen.has(n1.netnsName) && follower.seen.has(n2.netnsName);
      }, 60_000);
    } finally {
      follower.stop();
    }
  }, 120_000);

  it('a relay with a unix:// peer service finds both nodes too', async () => {
    await until('unix relay: 2 connected nodes', () => status(n1.netnsPath, '127.0.0.1:4246').num_connected_nodes === 2).catch((e: unknown) => {
      throw new Error(`${String(e)}\n--- relay log ---\n${unixRelay.tail()}`);
    });
    const nodes = new Set(observe(n1.netnsPath, '127.0.0.1:4246').map((x) => x.flow?.node_name));
    expect(nodes).toEqual(new Set([n1.netnsName, n2.netnsName]));
  }, 120_000);

  it('hubble-ui (backend + frontend) serves the page and flows of both nodes from the relay', async () => {
    const backend = new Relay(relayNsPath, ['--port', '38090', '--flows-api-addr', RELAY], [UI_BIN, 'backend']);
    const frontend = new Relay(relayNsPath, ['--port', '38081', '--backend', 'http://127.0.0.1:38090'], [UI_BIN]);
    backend.start();
    frontend.start();
    const curl = (path: string): { code: string; body: string } => {
      const r = spawnSync('nsenter', [`--net=${relayNsPath}`, 'curl', '-sS', '--max-time', '20', '-o', '-', '-w', '\n%{http_code}', `http://127.0.0.1:38081${path}`], { encoding: 'utf8', timeout: 30_000 });
      const lines = (r.stdout ?? '').split('\n');
      const code = lines.pop() ?? '';
      return { code, body: lines.join('\n') };
    };
    try {
      await until('hubble-ui /healthz', () => curl('/healthz').code === '200');
      const page = curl('/');
      expect(page.code).toBe('200');
      expect(page.body).toContain('<title>Hubble UI</title>');
      traffic(n1, 'ui-1');
      traffic(n2, 'ui-2');
      const flows = await until('both nodes in /api/flows', () => {
        const r = curl('/api/flows?last=500');
        if (r.code !== '200') return undefined;
        const l = (JSON.parse(r.body) as { flows: Array<{ node: string; source: { ip: string }; destination: { ip: string; name: string }; destinationPort?: number; verdict: string; protocol: string }> }).flows;
        return l.some((f) => f.node === n1.netnsName) && l.some((f) => f.node === n2.netnsName) ? l : undefined;
      });
      const [, s2] = pods[n2.netnsName]!;
      expect(flows.some((f) => f.node === n2.netnsName && f.destination.ip === s2.ip && f.destinationPort === 7300 && f.protocol === 'TCP' && f.verdict === 'FORWARDED')).toBe(true);
      const st = curl('/api/status');
      expect(st.code).toBe('200');
      const j = JSON.parse(st.body) as { numConnectedNodes: number; nodes: Array<{ name: string; state: string }> };
      expect(j.numConnectedNodes).toBe(2);
      expect(j.nodes.map((x) => [x.name, x.state]).sort()).toEqual([[n1.netnsName, 'NODE_CONNECTED'], [n2.netnsName, 'NODE_CONNECTED']].sort());
      expect(curl('/api/flows?last=0').code).toBe('400');
    } finally {
      await Promise.all([backend.stop(), frontend.stop()]);
    }
  }, 120_000);

  it('reports a node whose agent died as unavailable and keeps serving the other', async () => {
    await n2.killAgent();
    const s = await until('relay: node 2 unavailable', () => {
      const st = status(relayNsPath, RELAY);
      return st.num_unavailable_nodes === 1 ? st : undefined;
    });
    expect(s.num_connected_nodes).toBe(1);
    expect(s.unavailable_nodes).toEqual([n2.netnsName]);
    traffic(n1, 'after-kill');
    const lines = await until('node 1 flows after node 2 died', () => {
      const l = observe(relayNsPath, RELAY);
      return l.some((x) => x.flow?.node_name === n1.netnsName) ? l : undefined;
    });
    expect(lines.every((x) => x.flow?.node_name !== n2.netnsName)).toBe(true);
  }, 120_000);

  it('takes the node back once its agent is up again, also into a running follow stream', async () => {
    const follower = followFlows(['--to-port', '7300']);
    try {
      await n2.restartAgent();
      await until('relay: 2 connected nodes again', () => status(relayNsPath, RELAY).num_connected_nodes === 2);
      traffic(n2, 'back-again');
      await until('node 2 flows again', () => observe(relayNsPath, RELAY).some((x) => x.flow?.node_name === n2.netnsName));
      await until('node 2 in the follow stream started while it was down', () => {
        traffic(n2, 'back-follow');
        return follower.seen.has(n2.netnsName);
      });
    } finally {
      follower.stop();
    }
  }, 120_000);
});
