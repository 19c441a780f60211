// A real CNI client drives our plugin: the upstream `cnitool` (github.com/containernetworking/cni, built
// from the Go module proxy by scripts/build-go-tools.sh) runs ADD, CHECK, STATUS and DEL against
// bin/cilium-cni, which talks to a real bin/cilium-agent running in a fresh "node" netns.
// cnitool runs inside the node netns (as a kubelet/containerd on that node would), so the host-side veth
// lands next to the agent; the pod is its own netns under /run/netns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const suffix = randomBytes(3).toString('hex');
const nodeNs = `cts-cnode-${suffix}`;
const podNs = `cts-cpod-${suffix}`;
const netName = `cts-cnitool-${suffix}`;
const hostDevice = `cth${suffix}`;
const ifName = 'eth0';
// A /24 inside 10.0.0.0/8 picked at random; it exists only inside the netns this test creates.
const podCidr = `10.${200 + (randomBytes(1)[0]! % 50)}.${randomBytes(1)[0]!}.0/24`;
const routerIp = podCidr.replace(/0\/24$/, '1');

interface CniInterface { name: string; mac?: string; sandbox?: string }
interface CniIp { address: string; gateway?: string; interface?: number }
interface CniResult { cniVersion: string; interfaces?: CniInterface[]; ips?: CniIp[]; routes?: Array<{ dst: string; gw?: string }> }
interface IpAddrInfo { family: string; local: string; prefixlen: number }
interface IpLink { ifname: string; ifindex: number; address?: string; addr_info?: IpAddrInfo[] }

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; allowFail?: boolean } = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: opts.env ?? process.env, input: opts.input ?? '', timeout: 60_000 });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (!opts.allowFail && r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${String(r.status)}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return r;
}

function ipv4ToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

function inCidr(ip: string, cidr: string): boolean {
  const [net, bitsStr] = cidr.split('/');
  const bits = Number(bitsStr);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (ipv4ToInt(ip) & mask) >>> 0 === (ipv4ToInt(net!) & mask) >>> 0;
}

function links(ns: string): IpLink[] {
  return JSON.parse(run('ip', ['-n', ns, '-j', 'addr', 'show']).stdout || '[]') as IpLink[];
}

function httpGet(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = request({ socketPath, path, method: 'GET', timeout: 2000 }, (resp) => {
      let body = '';
      resp.setEncoding('utf8');
      resp.on('data', (c: string) => (body += c));
      resp.on('end', () => res({ status: resp.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
    req.end();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('cnitool (upstream CNI client) drives cilium-cni against a real agent', () => {
  let tmp = '';
  let bpfRoot = '';
  let agentSock = '';
  let agent: ChildProcess | undefined;
  let agentLog = '';
  let toolsBin = '';
  let cnitoolEnv: NodeJS.ProcessEnv = {};
  let addResult: CniResult | undefined;
  let podIp = '';
  let hostVeth = '';

  const cnitool = (cmd: 'add' | 'check' | 'del' | 'status', allowFail = false): SpawnSyncReturns<string> =>
    run('nsenter', [`--net=/run/netns/${nodeNs}`, '--', join(toolsBin, 'cnitool'), cmd, netName, `/run/netns/${podNs}`], {
      env: cnitoolEnv,
      allowFail,
    });

  beforeAll(async () => {
    const agentBin = join(root, 'bin', 'cilium-agent');
    const cniBin = join(root, 'bin', 'cilium-cni');
    for (const b of [agentBin, cniBin]) {
      if (!existsSync(b)) throw new Error(`${b} is missing: run \`make build\` (node scripts/build.mjs) first`);
    }
    const conflistPath = join(root, 'install', 'cni', '05-cilium.conflist');
    if (!existsSync(conflistPath)) throw new Error(`${conflistPath} is missing: the example conflist is part of the CNI deliverable`);

    const built = run('bash', [join(root, 'scripts', 'build-go-tools.sh')]);
    toolsBin = built.stdout.trim().split('\n').pop() ?? '';
    expect(existsSync(join(toolsBin, 'cnitool'))).toBe(true);

    tmp = mkdtempSync(join(tmpdir(), `cts-cnitool-${suffix}-`));
    bpfRoot = join(tmp, 'bpffs');
    agentSock = join(tmp, 'cilium.sock');
    const stateDir = join(tmp, 'state');
    const netconfDir = join(tmp, 'net.d');
    const cniPathDir = join(tmp, 'cni-bin');
    for (const d of [bpfRoot, stateDir, netconfDir, cniPathDir]) mkdirSync(d, { recursive: true });

    run('ip', ['netns', 'add', nodeNs]);
    run('ip', ['-n', nodeNs, 'link', 'set', 'lo', 'up']);
    run('ip', ['netns', 'add', podNs]);

    // The agent runs in the node netns (nsenter execs it: the child's pid is the agent's).
    agent = spawn(
      'nsenter',
      [
        `--net=/run/netns/${nodeNs}`, '--', process.execPath, agentBin,
        '--pod-cidr', podCidr,
        '--state-dir', stateDir,
        '--bpf-root', bpfRoot,
        '--socket-path', agentSock,
        '--hubble-socket-path', join(tmp, 'hubble.sock'),
        '--host-device', hostDevice,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    agent.stdout?.on('data', (c: Buffer) => (agentLog += c.toString()));
    agent.stderr?.on('data', (c: Buffer) => (agentLog += c.toString()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (agent.exitCode !== null || agent.signalCode !== null) {
        throw new Error(`cilium-agent exited (${String(agent.exitCode ?? agent.signalCode)}) before it was healthy:\n${agentLog}`);
      }
      const h = await httpGet(agentSock, '/v1/healthz').catch(() => undefined);
      if (h?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`cilium-agent not healthy on ${agentSock} after 30 s:\n${agentLog}`);
      await sleep(100);
    }

    // The shipped example conflist, pointed at this test's agent, under a unique network name.
    const base = JSON.parse(readFileSync(conflistPath, 'utf8')) as { plugins: Array<Record<string, unknown>> } & Record<string, unknown>;
    const plugin = base.plugins.find((p) => p['type'] === 'cilium-cni');
    if (!plugin) throw new Error(`${conflistPath} has no plugin of type cilium-cni`);
    const conf = {
      ...base,
      cniVersion: '1.1.0',
      name: netName,
      plugins: base.plugins.map((p) => (p === plugin ? { ...p, 'socket-path': agentSock, 'log-file': join(tmp, 'cilium-cni.log') } : p)),
    };
    writeFileSync(join(netconfDir, '05-cilium.conflist'), JSON.stringify(conf, null, 2));
    symlinkSync(cniBin, join(cniPathDir, 'cilium-cni'));
    // Other plugins of the example chain (e.g. loopback) come from the reference plugins.
    for (const p of base.plugins) {
      const t = String(p['type']);
      if (t !== 'cilium-cni' && existsSync(join(toolsBin, t))) symlinkSync(join(toolsBin, t), join(cniPathDir, t));
    }
    cnitoolEnv = { ...process.env, NETCONFPATH: netconfDir, CNI_PATH: cniPathDir, CNI_IFNAME: ifName };
    delete cnitoolEnv['CNI_ARGS'];
    delete cnitoolEnv['CAP_ARGS'];
  });

  afterAll(async () => {
    if (agent && agent.pid !== undefined && agent.exitCode === null && agent.signalCode === null) {
      const exited = new Promise<void>((r) => agent!.once('exit', () => r()));
      process.kill(agent.pid, 'SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (agent.exitCode === null && agent.signalCode === null) {
        process.kill(agent.pid, 'SIGKILL');
        await Promise.race([exited, sleep(2000)]);
      }
    }
    spawnSync('ip', ['netns', 'del', podNs]);
    spawnSync('ip', ['netns', 'del', nodeNs]);
    if (bpfRoot) spawnSync('umount', ['-l', bpfRoot]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    // libcni's result cache for this network (DEL removes it; this covers a failed run).
    const cacheDir = '/var/lib/cni/results';
    if (existsSync(cacheDir)) {
      for (const f of readdirSync(cacheDir)) if (f.startsWith(`${netName}-`)) rmSync(join(cacheDir, f), { force: true });
    }
  });

  it('STATUS reports the plugin ready', () => {
    const r = cnitool('status', true);
    expect(r.status, `cnitool status: ${r.stderr}`).toBe(0);
  });

  it('ADD gives the pod an address in the pod CIDR, on the pod interface, with a default route', () => {
    const r = cnitool('add');
    addResult = JSON.parse(r.stdout) as CniResult;
    expect(addResult.cniVersion).toBe('1.1.0');
    const ip = addResult.ips?.[0];
    expect(ip, r.stdout).toBeDefined();
    const [addr, plen] = ip!.address.split('/');
    podIp = addr!;
    expect(plen).toBe('32');
    expect(inCidr(podIp, podCidr), `${podIp} in ${podCidr}`).toBe(true);
    expect(podIp).not.toBe(routerIp);
    expect(ip!.gateway).toBe(routerIp);

    const ifaces = addResult.interfaces ?? [];
    const podIface = ifaces.find((i) => i.sandbox === `/run/netns/${podNs}`);
    expect(podIface?.name).toBe(ifName);
    expect(ip!.interface).toBe(ifaces.indexOf(podIface!));
    const host = ifaces.find((i) => i.sandbox === undefined || i.sandbox === '');
    expect(host?.name).toMatch(/^lxc[0-9a-f]{12}$/);
    hostVeth = host!.name;
    expect(addResult.routes?.some((rt) => rt.dst === '0.0.0.0/0' && rt.gw === routerIp)).toBe(true);

    // The kernel agrees: the pod interface really has the address, the host veth sits in the node netns.
    const pod = links(podNs).find((l) => l.ifname === ifName);
    expect(pod?.addr_info?.some((a) => a.family === 'inet' && a.local === podIp && a.prefixlen === 32)).toBe(true);
    expect(pod?.address?.toLowerCase()).toBe(podIface?.mac?.toLowerCase());
    expect(links(nodeNs).some((l) => l.ifname === hostVeth)).toBe(true);
    const routes = JSON.parse(run('ip', ['-n', podNs, '-j', 'route', 'show', 'default']).stdout) as Array<{ gateway?: string; dev?: string }>;
    expect(routes.some((rt) => rt.gateway === routerIp && rt.dev === ifName)).toBe(true);
  });

  it('the pod reaches its gateway (the agent host device) through the configured path', () => {
    const r = run('ip', ['netns', 'exec', podNs, 'ping', '-c', '1', '-W', '2', routerIp], { allowFail: true });
    expect(r.status, `ping ${routerIp} from the pod: ${r.stdout}${r.stderr}`).toBe(0);
  });

  it('the agent knows the endpoint', async () => {
    const r = await httpGet(agentSock, '/v1/endpoint');
    expect(r.status).toBe(200);
    expect(r.body).toContain(podIp);
  });

  it('CHECK succeeds on the intact pod', () => {
    const r = cnitool('check', true);
    expect(r.status, `cnitool check: ${r.stderr}`).toBe(0);
  });

  it('CHECK fails once the pod-side address is removed', () => {
    run('ip', ['-n', podNs, 'addr', 'del', `${podIp}/32`, 'dev', ifName]);
    const r = cnitool('check', true);
    expect(r.status).not.toBe(0);
  });

  it('DEL removes the veth pair and the endpoint; a second DEL succeeds', async () => {
    cnitool('del');
    expect(links(nodeNs).some((l) => l.ifname === hostVeth)).toBe(false);
    expect(links(podNs).some((l) => l.ifname === ifName)).toBe(false);
    const eps = await httpGet(agentSock, '/v1/endpoint');
    expect(eps.status).toBe(200);
    expect(eps.body).not.toContain(podIp);
    const again = cnitool('del', true);
    expect(again.status, `second cnitool del: ${again.stderr}`).toBe(0);
  });
});
