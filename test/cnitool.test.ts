// A real CNI client drives our plugin: the upstream `cnitool` (github.com/containernetworking/cni, built
// from the Go module proxy by scripts/build-go-tools.sh) runs ADD, CHECK, STATUS and DEL against
// bin/cilium-cni, which talks to a real bin/cilium-agent running in a fresh "node" netns.
// cnitool runs inside the node netns (as a kubelet/containerd on that node would), so the host-side veth
// lands next to the agent; the pod is its own netns under /run/netns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './lib/cni-runner.js';
import { TestNode } from './lib/node-harness.js';

const root = REPO_ROOT;
const suffix = randomBytes(3).toString('hex');
const netName = `cts-cnitool-${suffix}`;
const ifName = 'eth0';
/** Whether libcni's state dir existed before this suite (it creates it on the first ADD). */
const hadCniStateDir = existsSync('/var/lib/cni');

interface CniInterface { name: string; mac?: string; sandbox?: string }
interface CniIp { address: string; gateway?: string; interface?: number }
interface CniResult { cniVersion: string; interfaces?: CniInterface[]; ips?: CniIp[]; routes?: Array<{ dst: string; gw?: string }> }
interface IpAddrInfo { family: string; local: string; prefixlen: number }
interface IpLink { ifname: string; ifindex: number; address?: string; addr_info?: IpAddrInfo[] }

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; allowFail?: boolean } = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: opts.env ?? process.env, input: '', timeout: 120_000 });
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

describe('cnitool (upstream CNI client) drives cilium-cni against a real agent', () => {
  let node: TestNode | undefined;
  let nodeNs = '';
  let podNs = '';
  let podCidr = '';
  let routerIp = '';
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
    const cniBin = join(root, 'bin', 'cilium-cni');
    if (!existsSync(cniBin)) throw new Error(`${cniBin} is missing: run \`make build\` (node scripts/build.mjs) first`);
    const conflistPath = join(root, 'install', 'cni', '05-cilium.conflist');
    if (!existsSync(conflistPath)) throw new Error(`${conflistPath} is missing: the example conflist is part of the CNI deliverable`);

    const built = run('bash', [join(root, 'scripts', 'build-go-tools.sh')]);
    toolsBin = built.stdout.trim().split('\n').pop() ?? '';
    expect(existsSync(join(toolsBin, 'cnitool'))).toBe(true);

    // The real agent in a fresh node netns (the shared harness), and an empty pod netns.
    node = await TestNode.start();
    nodeNs = node.netnsName;
    podCidr = node.podCidr;
    routerIp = node.routerIp;
    podNs = node.newPodNetns().netnsName;

    // The shipped example conflist, pointed at this node's agent, under a unique network name.
    const netconfDir = join(node.tmpDir, 'net.d');
    const cniPathDir = join(node.tmpDir, 'cni-bin');
    mkdirSync(netconfDir, { recursive: true });
    mkdirSync(cniPathDir, { recursive: true });
    const base = JSON.parse(readFileSync(conflistPath, 'utf8')) as { plugins: Array<Record<string, unknown>> } & Record<string, unknown>;
    const plugin = base.plugins.find((p) => p['type'] === 'cilium-cni');
    if (!plugin) throw new Error(`${conflistPath} has no plugin of type cilium-cni`);
    const conf = {
      ...base,
      cniVersion: '1.1.0',
      name: netName,
      plugins: base.plugins.map((p) => (p === plugin ? { ...p, 'socket-path': node!.socketPath, 'log-file': join(node!.tmpDir, 'cilium-cni.log') } : p)),
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
    await node?.stop();
    // libcni's result cache for this network (DEL removes it; this covers a failed run).
    const cacheDir = '/var/lib/cni/results';
    if (existsSync(cacheDir)) {
      for (const f of readdirSync(cacheDir)) if (f.startsWith(`${netName}-`)) rmSync(join(cacheDir, f), { force: true });
    }
    // libcni made /var/lib/cni(/results) for us: if it was not there before and nothing else is in it now, it goes
    if (!hadCniStateDir) {
      for (const d of [cacheDir, '/var/lib/cni']) if (existsSync(d) && readdirSync(d).length === 0) rmdirSync(d);
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
    const eps = await node!.agent.endpointList();
    expect(JSON.stringify(eps)).toContain(podIp);
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
    const eps = await node!.agent.endpointList();
    expect(JSON.stringify(eps)).not.toContain(podIp);
    const again = cnitool('del', true);
    expect(again.status, `second cnitool del: ${again.stderr}`).toBe(0);
  });
});
