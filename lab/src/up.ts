// `cilium-lab up`: network, PKI, control plane, CoreDNS, the host forwarder, then one lab kubelet per node.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { clientCert, createPki } from './certs.js';
import {
  apiserverArgv, controllerManagerArgv, COREDNS_READY_URL, corednsArgv, createBootstrapObjects, etcdArgv, schedulerArgv,
  writeCorefile, writeResolvConf,
} from './control-plane.js';
import { down } from './down.js';
import { claimIndex } from './index-claim.js';
import { KubeClient } from './kube-client.js';
import { writeKubeconfig } from './kubeconfig.js';
import { LabError } from './lab-error.js';
import {
  APISERVER_PORT, checkLabName, CLUSTER_DOMAIN, labDir, labLayout, MAX_NODES, nodeLayout, SERVICE_API_IP, type LabLayout,
} from './layout.js';
import { attach, createUnderlay } from './network.js';
import { isAlive, logTail, spawnDetached, type SpawnOptions } from './processes.js';
import { readState, writeState, type LabState } from './state.js';
import { findUpstreamBin, repoRoot } from './upstream.js';

export interface UpOptions {
  name: string;
  nodes: number;
  upstreamBin?: string;
  /** Start the lab kubelets (default true). false: control plane and node netns only. */
  kubelets: boolean;
  /** How long to wait for each kubelet to register its Node. */
  nodeTimeoutMs: number;
  /** Keep what was made when `up` fails (for debugging); default: tear it down. */
  keepOnFailure: boolean;
  log: (line: string) => void;
}

/** True when the lab's apiserver (and so the lab) is running. */
export function labAlive(s: LabState): boolean {
  const api = s.processes.find((p) => p.role === 'kube-apiserver');
  return api !== undefined && isAlive(api);
}

export async function up(o: UpOptions): Promise<LabState> {
  checkLabName(o.name);
  if (!Number.isInteger(o.nodes) || o.nodes < 0 || o.nodes > MAX_NODES) {
    throw new LabError('LAB_BAD_NODES', `--nodes ${o.nodes}: expected 0..${MAX_NODES}`, 'e.g. --nodes 2');
  }
  const existing = readState(o.name);
  if (existing !== undefined && labAlive(existing)) {
    throw new LabError('LAB_EXISTS', `lab ${o.name} is already up (apiserver pid ${existing.processes.find((p) => p.role === 'kube-apiserver')?.pid})`, `use it (\`cilium-lab env --name ${o.name}\`) or remove it first: \`cilium-lab down --name ${o.name}\``);
  }
  if (existing !== undefined || existsSync(labDir(o.name))) {
    o.log(`lab ${o.name}: removing a dead leftover`);
    await down({ name: o.name, log: o.log });
  }
  const root = repoRoot();
  const bin = findUpstreamBin(o.upstreamBin, root);
  // The dir first: a claim whose lab dir is missing counts as a stale leftover (see index-claim.ts).
  mkdirSync(labDir(o.name), { recursive: true, mode: 0o700 });
  const index = claimIndex(o.name);
  const lab = labLayout(o.name, index);
  for (const d of [lab.dir, lab.certDir, lab.logDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const state: LabState = {
    version: 1,
    name: o.name,
    index,
    createdAt: new Date().toISOString(),
    phase: 'creating',
    repoRoot: root,
    upstreamBin: bin,
    cpIp: lab.cpIp,
    apiPort: APISERVER_PORT,
    netns: [],
    nodes: [],
    processes: [],
  };
  writeState(state);
  try {
    await build(o, lab, state, bin, root);
  } catch (e) {
    if (!o.keepOnFailure) {
      o.log(`lab ${o.name}: up failed, tearing down what was made`);
      try {
        await down({ name: o.name, log: o.log });
      } catch (e2) {
        o.log(`lab ${o.name}: teardown after failure also failed: ${(e2 as Error).message}`);
      }
    }
    throw e;
  }
  return state;
}

async function build(o: UpOptions, lab: LabLayout, state: LabState, bin: string, root: string): Promise<void> {
  const t0 = Date.now();
  const step = (m: string): void => o.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`);
  const selfBin = join(root, 'bin', 'cilium-lab');
  if (!existsSync(selfBin)) throw new LabError('LAB_SELF', `${selfBin} is missing`, 'build it: make bin');

  // --- PKI and kubeconfigs
  step(`pki in ${lab.certDir}`);
  const pki = createPki(lab.certDir, `cilium-lab-${lab.name}-ca`, {
    ips: ['127.0.0.1', lab.cpIp, SERVICE_API_IP],
    dns: ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', `kubernetes.default.svc.${CLUSTER_DOMAIN}`, 'localhost'],
  });
  const local = `https://127.0.0.1:${APISERVER_PORT}`;
  const underlay = `https://${lab.cpIp}:${APISERVER_PORT}`;
  const kc = (file: string, user: string, cert: ReturnType<typeof clientCert>, server: string): string => {
    const path = join(lab.dir, file);
    writeKubeconfig({ path, clusterName: `cilium-lab-${lab.name}`, server, caFile: pki.ca.cert, user, client: cert });
    return path;
  };
  const admin = clientCert(pki, 'admin', 'cilium-lab-admin', 'system:masters');
  const kcmKc = kc('controller-manager.kubeconfig', 'system:kube-controller-manager', clientCert(pki, 'controller-manager', 'system:kube-controller-manager'), local);
  const schedKc = kc('scheduler.kubeconfig', 'system:kube-scheduler', clientCert(pki, 'scheduler', 'system:kube-scheduler'), local);
  const dnsKc = kc('coredns.kubeconfig', 'system:coredns', clientCert(pki, 'coredns', 'system:coredns'), local);
  // The admin as the nodes see the apiserver (for use inside a node or pod netns).
  kc('admin-underlay.kubeconfig', 'cilium-lab-admin', admin, underlay);

  // --- network
  step(`network: ${lab.subnet} on ${lab.bridge} in netns ${lab.underlayNetns}`);
  const addNetns = (n: string): void => {
    state.netns.push(n);
    writeState(state);
  };
  addNetns(lab.underlayNetns);
  createUnderlay(lab);
  addNetns(lab.cpNetns);
  attach(lab, { netns: lab.cpNetns, underlayLink: 'vcp', ip: lab.cpIp });
  const nodes = Array.from({ length: o.nodes }, (_, i) => nodeLayout(lab, i + 1));
  for (const n of nodes) {
    addNetns(n.netns);
    attach(lab, { netns: n.netns, underlayLink: n.underlayLink, ip: n.ip });
    for (const d of [n.dir, n.cniConfDir, n.cniBinDir]) mkdirSync(d, { recursive: true, mode: 0o755 });
    const cert = clientCert(pki, `kubelet-${n.name}`, `system:node:${n.name}`, 'system:nodes');
    writeKubeconfig({ path: n.kubeconfig, clusterName: `cilium-lab-${lab.name}`, server: underlay, caFile: pki.ca.cert, user: `system:node:${n.name}`, client: cert });
    state.nodes.push({ name: n.name, netns: n.netns, ip: n.ip, kubeconfig: n.kubeconfig, dir: n.dir });
  }
  writeState(state);

  // --- processes
  const start = (s: Omit<SpawnOptions, 'log'>): void => {
    const rec = spawnDetached({ ...s, log: join(lab.logDir, `${s.role}.log`) });
    state.processes.push(rec);
    writeState(state);
  };
  const checkAlive = (): void => {
    for (const p of state.processes) {
      if (!isAlive(p)) throw new LabError('LAB_PROCESS_DIED', `${p.role} (pid ${p.pid}) exited; its log:\n${logTail(p.log)}`, `full log: ${p.log}`);
    }
  };
  step('etcd, kube-apiserver');
  mkdirSync(lab.etcdDir, { recursive: true, mode: 0o700 });
  start({ role: 'etcd', argv: etcdArgv(bin, lab), netns: lab.cpNetns });
  start({ role: 'kube-apiserver', argv: apiserverArgv(bin, lab, pki), netns: lab.cpNetns });

  step('forwarder 127.0.0.1:<port> (root netns) -> apiserver');
  const portFile = join(lab.dir, 'forward.port');
  rmSync(portFile, { force: true });
  start({
    role: 'forwarder',
    argv: [process.execPath, selfBin, 'forward', '--netns', `/run/netns/${lab.cpNetns}`, '--target', `${lab.cpIp}:${APISERVER_PORT}`, '--port-file', portFile],
  });
  const port = await waitFor('the forwarder', 30_000, checkAlive, () => {
    if (!existsSync(portFile)) return undefined;
    const n = Number(readFileSync(portFile, 'utf8').trim());
    return n > 0 ? n : undefined;
  });
  state.forwardPort = port;
  writeState(state);
  kc('admin.kubeconfig', 'cilium-lab-admin', admin, `https://127.0.0.1:${port}`);
  const api = KubeClient.fromKubeconfig(lab.adminKubeconfig);
  await waitFor('kube-apiserver /readyz', 180_000, checkAlive, async () => {
    try {
      const r = await api.request('GET', '/readyz', undefined, 5_000);
      return r.status === 200 ? true : undefined;
    } catch {
      return undefined;
    }
  });
  step('apiserver ready; RBAC for CoreDNS, kube-dns Service');
  await createBootstrapObjects(api, lab);

  step('kube-controller-manager, kube-scheduler, CoreDNS');
  start({ role: 'kube-controller-manager', argv: controllerManagerArgv(bin, kcmKc, pki), netns: lab.cpNetns });
  start({ role: 'kube-scheduler', argv: schedulerArgv(bin, schedKc), netns: lab.cpNetns });
  writeCorefile(lab, dnsKc);
  start({ role: 'coredns', argv: corednsArgv(bin, lab), netns: lab.cpNetns });
  writeResolvConf(lab);
  await waitFor('the default ServiceAccount (kube-controller-manager)', 120_000, checkAlive, async () =>
    (await api.get('/api/v1/namespaces/default/serviceaccounts/default')) !== undefined ? true : undefined,
  );
  await waitFor('CoreDNS /ready', 120_000, checkAlive, () => (httpOkInNetns(lab.cpNetns, COREDNS_READY_URL) ? true : undefined));

  if (o.kubelets) {
    step(`lab kubelets on ${nodes.map((n) => n.name).join(', ')}`);
    for (const n of nodes) {
      start({
        role: `kubelet-${n.name}`,
        netns: n.netns,
        argv: [
          process.execPath, selfBin, 'kubelet',
          '--lab', lab.name,
          '--node', n.name,
          '--kubeconfig', n.kubeconfig,
          '--node-ip', n.ip,
          '--cni-conf-dir', n.cniConfDir,
          '--cni-bin-dir', n.cniBinDir,
          '--state-dir', n.dir,
          '--resolv-conf', lab.resolvConf,
          '--cgroup-root', n.cgroupRoot,
        ],
      });
    }
    for (const n of nodes) {
      await waitFor(`Node ${n.name} (registered by its kubelet)`, o.nodeTimeoutMs, checkAlive, async () =>
        (await api.get(`/api/v1/nodes/${n.name}`)) !== undefined ? true : undefined,
      );
    }
  }
  state.phase = 'up';
  writeState(state);
  step(`lab ${lab.name} is up: ${nodes.length} node(s), apiserver ${lab.cpIp}:${APISERVER_PORT}, host access https://127.0.0.1:${port}`);
}

/** Polls probe() until it returns a value; runs check() each round (throws when a process died). */
async function waitFor<T>(what: string, timeoutMs: number, check: () => void, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    check();
    if (Date.now() > deadline) throw new LabError('LAB_TIMEOUT', `timed out after ${timeoutMs / 1000}s waiting for ${what}`, 'see the logs under /run/cilium-lab/<name>/logs');
    await sleep(250);
  }
}

/** GET url from inside a netns (a short-lived node process there); true on HTTP 200. */
export function httpOkInNetns(netns: string, url: string): boolean {
  const script = `fetch(${JSON.stringify(url)},{signal:AbortSignal.timeout(3000)}).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))`;
  const r = spawnSync('nsenter', [`--net=/run/netns/${netns}`, '--', process.execPath, '-e', script], { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0;
}
