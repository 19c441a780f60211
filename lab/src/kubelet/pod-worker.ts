/**
 * One pod on a lab node, from admission to deletion: the sandbox (a netns wired by the CNI plugins, or
 * the node's netns for hostNetwork pods), the pod's files and volumes, its containers as processes
 * (init containers in order, then the rest), probes, restarts with back-off, status written back, and
 * the teardown when the pod is deleted. State that must survive a kubelet restart (sandbox, CNI result,
 * container pids) is kept in <stateDir>/pods/<uid>/state.json so a new kubelet adopts running pods.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createNetns, deleteNetns, Netlink } from '@cilium-ts/netlink';
import { cgroupPids, createContainerCgroups, removeCgroups } from './cgroups.js';
import { cniAdd, cniDel, resultPodIps, type CniExec, type CniNetworkList, type CniPodInfo } from './cni.js';
import { containerEnv, EnvError, expandVars, kubernetesServiceEnv, type EnvFromSource, type EnvVar, type PodFieldSource } from './container-env.js';
import { containerArgv, resolveImage, toolTarget } from './images.js';
import type { KubeApi, KubeObject } from './kube-client.js';
import { launchArgv, launchScript, type BindMount, type NodePaths } from './launch.js';
import { hostNetworkHostsFile, parseResolvConf, podHostsFile, podResolvConf, formatResolvConf } from './pod-files.js';
import { buildPodStatus, statusFingerprint, type ContainerRecord, type PodCondition, type TerminatedState } from './pod-status.js';
import { runProbe, type Probe } from './probes.js';
import { prepareVolume, type Volume, type VolumeSources } from './volumes.js';

export const NETNS_ANNOTATION = 'lab.cilium-ts.io/netns';
const SA_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface NodeContext {
  api: KubeApi;
  node: string;
  nodeIp: string;
  /** Pod netns are named <netnsPrefix>-<8 hex of the sandbox id> (the lab's down finds them by prefix). */
  netnsPrefix: string;
  paths: NodePaths;
  cgroupRoot: string;
  resolvConf: string;
  repoRoot: string;
  apiHost: string;
  apiPort: string;
  allocatable: { cpu: number; memory: number };
  busybox: string | undefined;
  cniNetwork(): { network: CniNetworkList | undefined; error: string | undefined };
  cniExec(): CniExec;
  log(level: 'info' | 'warn' | 'error', msg: string): void;
  /** Called when the worker is finished (pod deleted and gone). */
  forget(uid: string): void;
}

interface ContainerSpec {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  ports?: Array<{ name?: string; containerPort: number; hostPort?: number; protocol?: string; hostIP?: string }>;
  volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string; readOnly?: boolean }>;
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  lifecycle?: { postStart?: Probe; preStop?: Probe };
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  restartPolicy?: string;
}

interface PodSpec {
  nodeName?: string;
  hostNetwork?: boolean;
  containers: ContainerSpec[];
  initContainers?: ContainerSpec[];
  volumes?: Volume[];
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
  dnsPolicy?: string;
  dnsConfig?: { nameservers?: string[]; searches?: string[]; options?: Array<{ name?: string; value?: string }> };
  hostname?: string;
  subdomain?: string;
  hostAliases?: Array<{ ip?: string; hostnames?: string[] }>;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
}

interface SavedContainer {
  containerId: string;
  pid: number | undefined;
  pidStart: string | undefined;
  startedAt: string | undefined;
  restartCount: number;
  lastTermination: TerminatedState | undefined;
  done: TerminatedState | undefined;
  /** The environment it was started with (exec probes of an adopted container need it). */
  env?: Record<string, string>;
}

interface SavedState {
  uid: string;
  namespace: string;
  name: string;
  sandboxId: string;
  netnsName: string | undefined;
  network: CniNetworkList | undefined;
  cniResult: Record<string, unknown> | undefined;
  podIPs: string[];
  startTime: string;
  networkDown: boolean;
  containers: Record<string, SavedContainer>;
}

interface Ctr {
  spec: ContainerSpec;
  init: boolean;
  rec: ContainerRecord;
  saved: SavedContainer;
  proc: ChildProcess | undefined;
  adoptTimer: NodeJS.Timeout | undefined;
  gen: number;
  backoffSec: number;
  backoffUntil: number;
  startupOk: boolean;
  readyOk: boolean;
  killing: boolean;
  env: Record<string, string>;
  exited: Promise<void> | undefined;
  onExit: (() => void) | undefined;
}

function nowIso(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Start time of a process (field 22 of /proc/PID/stat), to tell a live pid from a recycled one. */
export function procStartTime(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function alive(pid: number | undefined, start: string | undefined): boolean {
  return pid !== undefined && start !== undefined && procStartTime(pid) === start;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class PodWorker {
  pod: KubeObject;
  private readonly ctx: NodeContext;
  private readonly uid: string;
  private readonly dir: string;
  private readonly logDir: string;
  private state: SavedState;
  private readonly ctrs = new Map<string, Ctr>();
  private readonly order: Ctr[] = [];
  private running = false;
  private again = false;
  private stopped = false;
  private terminating: Promise<void> | undefined;
  private sandboxReady = false;
  private sandboxError: string | undefined;
  private sandboxRetry: NodeJS.Timeout | undefined;
  /** Back-off of sandbox creation after a failure (the kubelet's pod worker back-off). */
  private sandboxNotBefore = 0;
  private sandboxBackoffMs = 0;
  private lastStatus = '';
  private publishTimer: NodeJS.Timeout | undefined;
  private tokenTimer: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private mounts = new Map<string, { source: string | undefined; hostPath?: string }>();
  private volumesReady = false;
  private podMessage: { reason: string; message: string } | undefined;

  constructor(ctx: NodeContext, pod: KubeObject) {
    this.ctx = ctx;
    this.pod = pod;
    this.uid = pod.metadata.uid;
    this.dir = join(ctx.paths.stateDir, 'pods', this.uid);
    this.logDir = join(ctx.paths.stateDir, 'logs', `${pod.metadata.namespace ?? 'default'}_${pod.metadata.name}_${this.uid}`);
    mkdirSync(this.dir, { recursive: true });
    this.state = this.loadState() ?? {
      uid: this.uid,
      namespace: pod.metadata.namespace ?? 'default',
      name: pod.metadata.name,
      sandboxId: randomBytes(32).toString('hex'),
      netnsName: undefined,
      network: undefined,
      cniResult: undefined,
      podIPs: [],
      startTime: nowIso(),
      networkDown: false,
      containers: {},
    };
    const spec = this.spec();
    for (const [init, list] of [[true, spec.initContainers ?? []], [false, spec.containers]] as const) {
      for (const c of list) {
        const saved = this.state.containers[c.name] ?? { containerId: '', pid: undefined, pidStart: undefined, startedAt: undefined, restartCount: 0, lastTermination: undefined, done: undefined };
        this.state.containers[c.name] = saved;
        const ctr: Ctr = {
          spec: c,
          init,
          saved,
          rec: { name: c.name, image: c.image ?? '', imageID: '', restartCount: saved.restartCount, ready: false, started: false, state: { kind: 'waiting', reason: 'ContainerCreating' } },
          proc: undefined,
          adoptTimer: undefined,
          gen: 0,
          backoffSec: 0,
          backoffUntil: 0,
          startupOk: false,
          readyOk: false,
          killing: false,
          env: {},
          exited: undefined,
          onExit: undefined,
        };
        if (saved.lastTermination) ctr.rec.lastTermination = saved.lastTermination;
        if (saved.done) ctr.rec.state = { kind: 'terminated', t: saved.done };
        this.ctrs.set(c.name, ctr);
        this.order.push(ctr);
      }
    }
  }

  private spec(): PodSpec {
    return this.pod.spec as unknown as PodSpec;
  }

  private get name(): string {
    return `${this.state.namespace}/${this.state.name}`;
  }

  private loadState(): SavedState | undefined {
    try {
      const s = JSON.parse(readFileSync(join(this.dir, 'state.json'), 'utf8')) as SavedState;
      return s.uid === this.uid ? s : undefined;
    } catch {
      return undefined;
    }
  }

  private saveState(): void {
    if (this.stopped) return;
    try {
      this.writeState();
    } catch (e) {
      this.ctx.log('error', `pod ${this.name}: cannot save its state: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private writeState(): void {
    mkdirSync(this.dir, { recursive: true });
    const p = join(this.dir, 'state.json');
    writeFileSync(`${p}.tmp`, JSON.stringify(this.state, null, 1));
    renameSync(`${p}.tmp`, p);
    const q = join(this.dir, 'pod.json');
    writeFileSync(`${q}.tmp`, JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: this.pod.metadata, spec: this.pod.spec }));
    renameSync(`${q}.tmp`, q);
  }

  private timer(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** A new version of the pod from the watch. */
  update(pod: KubeObject): void {
    this.pod = pod;
    this.kick();
  }

  /** The node's CNI config changed: try the sandbox again now. */
  networkChanged(): void {
    this.sandboxNotBefore = 0;
    this.sandboxBackoffMs = 0;
    this.kick();
  }

  /** Schedules a sync (coalesced; never two at once). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void (async () => {
      try {
        do {
          this.again = false;
          await this.sync();
        } while (this.again && !this.stopped);
      } catch (e) {
        this.ctx.log('error', `pod ${this.name}: sync failed: ${e instanceof Error ? e.message : String(e)}`);
        this.timer(5000, () => this.kick());
      } finally {
        this.running = false;
      }
    })();
  }

  /** Stops watching this pod's processes (kubelet shutdown): pods keep running. */
  detach(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.sandboxRetry) clearTimeout(this.sandboxRetry);
    if (this.publishTimer) clearTimeout(this.publishTimer);
    if (this.tokenTimer) clearTimeout(this.tokenTimer);
    for (const c of this.order) {
      c.gen++;
      if (c.adoptTimer) clearInterval(c.adoptTimer);
      c.proc?.removeAllListeners('exit');
      c.proc?.unref();
    }
  }

  private async sync(): Promise<void> {
    if (this.pod.metadata.deletionTimestamp) {
      this.terminating ??= this.terminate();
      await this.terminating;
      return;
    }
    if (this.terminating) return;
    const phase = this.currentPhase();
    if (phase === 'Succeeded' || phase === 'Failed') {
      await this.teardownNetwork();
      this.publish();
      return;
    }
    if (!this.sandboxReady) {
      await this.ensureSandbox();
      if (!this.sandboxReady) {
        this.publish();
        return;
      }
    }
    if (!this.volumesReady) {
      try {
        await this.prepareVolumes();
        this.volumesReady = true;
        this.podMessage = undefined;
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        for (const c of this.order) if (c.rec.state.kind === 'waiting') c.rec.state = { kind: 'waiting', reason: 'ContainerCreating', message: `MountVolume.SetUp failed: ${msg}` };
        this.event('Warning', 'FailedMount', `MountVolume.SetUp failed: ${msg}`);
        this.timer(5000, () => this.kick());
        this.publish();
        return;
      }
    }
    await this.stepContainers();
    this.publish();
  }

  private currentPhase(): string {
    const spec = this.spec();
    const init = this.order.filter((c) => c.init).map((c) => c.rec);
    const containers = this.order.filter((c) => !c.init).map((c) => c.rec);
    return buildPodStatus({ restartPolicy: spec.restartPolicy ?? 'Always', init, containers, sandboxReady: true, podIPs: [], hostIP: '', startTime: '', previous: undefined, now: '' })['phase'] as string;
  }

  // ---- sandbox -----------------------------------------------------------------------------------

  private podInfo(): CniPodInfo {
    return { namespace: this.state.namespace, name: this.state.name, uid: this.uid, sandboxId: this.state.sandboxId, netnsPath: `/run/netns/${this.state.netnsName ?? ''}`, ifname: 'eth0' };
  }

  private async ensureSandbox(): Promise<void> {
    const spec = this.spec();
    if (spec.hostNetwork) {
      this.state.podIPs = [this.ctx.nodeIp];
      this.sandboxReady = true;
      this.saveState();
      // The node's own netns, when it is the named one the lab made (same inode as ours).
      const nodeNs = `/run/netns/${this.ctx.netnsPrefix}`;
      try {
        if (statSync(nodeNs).ino === statSync('/proc/self/ns/net').ino) await this.annotateNetns(nodeNs);
      } catch {
        // not a lab node netns: no annotation
      }
      return;
    }
    if (Date.now() < this.sandboxNotBefore) return;
    // Adopted from an earlier kubelet: the netns and the CNI result are still there.
    if (this.state.netnsName && this.state.cniResult && existsSync(`/run/netns/${this.state.netnsName}`) && !this.state.networkDown) {
      this.sandboxReady = true;
      return;
    }
    const { network, error } = this.ctx.cniNetwork();
    if (!network) {
      const msg = `network is not ready: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: ${error ?? 'cni plugin not initialized'}`;
      this.setSandboxError(msg, false);
      return;
    }
    if (!this.state.netnsName) {
      this.state.netnsName = `${this.ctx.netnsPrefix}-${this.state.sandboxId.slice(0, 8)}`;
      this.saveState();
    }
    const ns = this.state.netnsName;
    try {
      if (!existsSync(`/run/netns/${ns}`)) createNetns(ns);
      const nl = Netlink.open({ netnsPath: `/run/netns/${ns}` });
      try {
        nl.setLinkUp(nl.requireLink('lo').index);
      } finally {
        nl.close();
      }
    } catch (e) {
      this.setSandboxError(`failed to create the pod network namespace: ${e instanceof Error ? e.message : String(e)}`, true);
      return;
    }
    this.state.network = network;
    this.saveState();
    try {
      const result = await cniAdd(this.ctx.cniExec(), network, this.podInfo(), this.capabilityArgs());
      this.state.cniResult = result;
      this.state.podIPs = resultPodIps(result, 'eth0');
      this.state.networkDown = false;
      this.saveState();
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      // As containerd: a failed ADD is undone with DEL, and the sandbox is made again later.
      try {
        await cniDel(this.ctx.cniExec(), network, this.podInfo(), undefined, this.capabilityArgs());
      } catch (d) {
        this.ctx.log('warn', `pod ${this.name}: DEL after failed ADD: ${d instanceof Error ? d.message : String(d)}`);
      }
      deleteNetns(ns);
      this.state.netnsName = undefined;
      this.state.sandboxId = randomBytes(32).toString('hex');
      this.saveState();
      this.setSandboxError(`Failed to create pod sandbox: plugin type="${network.plugins.map((p) => p.type).join(',')}" name="${network.name}" failed (add): ${msg}`, true);
      return;
    }
    this.sandboxReady = true;
    this.sandboxError = undefined;
    this.sandboxBackoffMs = 0;
    await this.annotateNetns(`/run/netns/${ns}`);
    this.event('Normal', 'SandboxReady', `pod network ${ns} ready: ${this.state.podIPs.join(', ')}`);
  }

  private setSandboxError(msg: string, event: boolean): void {
    if (this.sandboxError !== msg) {
      this.ctx.log('warn', `pod ${this.name}: ${msg}`);
      if (event) this.event('Warning', 'FailedCreatePodSandBox', msg);
    }
    this.sandboxError = msg;
    for (const c of this.order) if (c.rec.state.kind === 'waiting') c.rec.state = { kind: 'waiting', reason: 'ContainerCreating', message: msg };
    // Network not ready: check again soon (a new CNI config also kicks every pod). A failed ADD: back off
    // 1 s, 2 s, ... 60 s, so pod updates (our own status writes among them) do not retry in a hot loop.
    this.sandboxBackoffMs = event ? Math.min(60_000, this.sandboxBackoffMs === 0 ? 1000 : this.sandboxBackoffMs * 2) : 5000;
    this.sandboxNotBefore = Date.now() + this.sandboxBackoffMs;
    if (this.sandboxRetry) clearTimeout(this.sandboxRetry);
    this.sandboxRetry = setTimeout(() => {
      this.sandboxRetry = undefined;
      this.kick();
    }, this.sandboxBackoffMs + 10);
  }

  private capabilityArgs(): Record<string, unknown> {
    const spec = this.spec();
    const portMappings = [...(spec.initContainers ?? []), ...spec.containers]
      .flatMap((c) => c.ports ?? [])
      .filter((p) => p.hostPort !== undefined && p.hostPort > 0)
      .map((p) => ({ hostPort: p.hostPort!, containerPort: p.containerPort, protocol: (p.protocol ?? 'TCP').toLowerCase(), ...(p.hostIP ? { hostIP: p.hostIP } : {}) }));
    const rc = this.resolv();
    return {
      portMappings,
      dns: { servers: rc.nameservers, searches: rc.searches, options: rc.options },
      cgroupPath: join(this.ctx.cgroupRoot, this.uid),
      'io.kubernetes.cri.pod-annotations': this.pod.metadata.annotations ?? {},
    };
  }

  private async annotateNetns(path: string): Promise<void> {
    if (this.pod.metadata.annotations?.[NETNS_ANNOTATION] === path) return;
    const ns = encodeURIComponent(this.state.namespace);
    const body = { metadata: { annotations: { [NETNS_ANNOTATION]: path } } };
    const base = `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(this.state.name)}`;
    let r = await this.ctx.api.request('PATCH', base, body, 'application/merge-patch+json');
    // A node's credentials may not patch a pod (Node authorizer), only its status, which carries metadata too.
    if (r.status === 403) r = await this.ctx.api.request('PATCH', `${base}/status`, body, 'application/merge-patch+json');
    if (r.status >= 300) this.ctx.log('warn', `pod ${this.name}: annotate netns: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
  }

  private async teardownNetwork(): Promise<void> {
    if (this.state.networkDown || this.spec().hostNetwork) return;
    if (this.state.netnsName) {
      if (this.state.network) {
        try {
          await cniDel(this.ctx.cniExec(), this.state.network, this.podInfo(), this.state.cniResult, this.capabilityArgs());
        } catch (e) {
          this.ctx.log('warn', `pod ${this.name}: CNI DEL: ${e instanceof Error ? e.message : String(e)}`);
          this.event('Warning', 'FailedKillPod', `CNI DEL failed: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      deleteNetns(this.state.netnsName);
    }
    this.state.networkDown = true;
    this.saveState();
  }

  // ---- files and volumes ----------------------------------------------------------------------------

  private resolv(): ReturnType<typeof podResolvConf> {
    let host = '';
    try {
      host = readFileSync(this.ctx.resolvConf, 'utf8');
    } catch {
      // none
    }
    const spec = this.spec();
    return podResolvConf(parseResolvConf(host), { namespace: this.state.namespace, dnsPolicy: spec.dnsPolicy, hostNetwork: spec.hostNetwork, dnsConfig: spec.dnsConfig });
  }

  private writePodFiles(): void {
    const spec = this.spec();
    const etc = join(this.dir, 'etc');
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, 'resolv.conf'), formatResolvConf(this.resolv()));
    const hostname = spec.hostNetwork ? this.ctx.node : (spec.hostname ?? this.state.name);
    writeFileSync(join(etc, 'hostname'), `${hostname}\n`);
    if (spec.hostNetwork) {
      let hostFile = '';
      try {
        hostFile = readFileSync('/etc/hosts', 'utf8');
      } catch {
        // none
      }
      writeFileSync(join(etc, 'hosts'), hostNetworkHostsFile(hostFile, this.ctx.node, this.ctx.nodeIp));
    } else {
      writeFileSync(join(etc, 'hosts'), podHostsFile({ podIPs: this.state.podIPs, hostname, subdomain: spec.subdomain, namespace: this.state.namespace, hostAliases: spec.hostAliases }));
    }
  }

  private fieldSource(): PodFieldSource {
    const spec = this.spec();
    return {
      name: this.state.name,
      namespace: this.state.namespace,
      uid: this.uid,
      labels: this.pod.metadata.labels ?? {},
      annotations: this.pod.metadata.annotations ?? {},
      nodeName: this.ctx.node,
      serviceAccountName: spec.serviceAccountName ?? 'default',
      podIPs: this.state.podIPs,
      hostIP: this.ctx.nodeIp,
    };
  }

  private volumeSources(): VolumeSources {
    const ns = encodeURIComponent(this.state.namespace);
    const api = this.ctx.api;
    const decode = (o: Record<string, unknown>, b64: boolean): Record<string, Buffer> => {
      const out: Record<string, Buffer> = {};
      for (const [k, v] of Object.entries((o['data'] as Record<string, string> | undefined) ?? {})) out[k] = b64 ? Buffer.from(v, 'base64') : Buffer.from(v);
      for (const [k, v] of Object.entries((o['binaryData'] as Record<string, string> | undefined) ?? {})) out[k] = Buffer.from(v, 'base64');
      return out;
    };
    const get = async (kind: 'configmaps' | 'secrets', name: string): Promise<Record<string, Buffer> | undefined> => {
      const r = await api.request('GET', `/api/v1/namespaces/${ns}/${kind}/${encodeURIComponent(name)}`);
      if (r.status === 404) return undefined;
      if (r.status >= 300) throw new Error(`get ${kind} ${name}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      return decode(r.body, kind === 'secrets');
    };
    return {
      configMap: (name) => get('configmaps', name),
      secret: (name) => get('secrets', name),
      token: async (audience, expirationSeconds) => {
        const sa = this.spec().serviceAccountName ?? 'default';
        const r = await api.call<{ status: { token: string; expirationTimestamp: string } }>('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${encodeURIComponent(sa)}/token`, {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { audiences: audience ? [audience] : null, expirationSeconds, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: this.state.name, uid: this.uid } },
        });
        return { token: r.body.status.token, expiresAt: Date.parse(r.body.status.expirationTimestamp) / 1000 };
      },
    };
  }

  private async prepareVolumes(): Promise<void> {
    this.writePodFiles();
    const spec = this.spec();
    const src = this.volumeSources();
    let refreshAt: number | undefined;
    const mounts = new Map<string, { source: string | undefined; hostPath?: string }>();
    for (const v of spec.volumes ?? []) {
      const p = await prepareVolume(v, this.dir, this.ctx.paths, this.fieldSource(), src);
      mounts.set(v.name, p.hostPath !== undefined ? { source: p.source, hostPath: p.hostPath } : { source: p.source });
      if (p.refreshAt !== undefined) refreshAt = refreshAt === undefined ? p.refreshAt : Math.min(refreshAt, p.refreshAt);
    }
    // A service-account token mount when admission did not add one (automount not disabled).
    const hasSa = [...(spec.initContainers ?? []), ...spec.containers].some((c) => (c.volumeMounts ?? []).some((m) => m.mountPath === SA_MOUNT));
    if (!hasSa && spec.automountServiceAccountToken !== false) {
      const v: Volume = {
        name: 'lab-kube-api-access',
        projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }, { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } }] },
      };
      try {
        const p = await prepareVolume(v, this.dir, this.ctx.paths, this.fieldSource(), src);
        const ca = this.ctx.api.caPem();
        if (ca && p.source) writeFileSync(join(p.source, 'ca.crt'), ca);
        mounts.set(v.name, { source: p.source });
        if (p.refreshAt !== undefined) refreshAt = refreshAt === undefined ? p.refreshAt : Math.min(refreshAt, p.refreshAt);
      } catch (e) {
        this.ctx.log('warn', `pod ${this.name}: no service account token: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    this.mounts = mounts;
    if (refreshAt !== undefined) {
      if (this.tokenTimer) clearTimeout(this.tokenTimer);
      this.tokenTimer = setTimeout(() => {
        this.tokenTimer = undefined;
        this.prepareVolumes().catch((e: unknown) => this.ctx.log('warn', `pod ${this.name}: token refresh: ${String(e)}`));
      }, Math.max(10_000, refreshAt * 1000 - Date.now()));
      this.tokenTimer.unref();
    }
  }

  private containerMounts(c: ContainerSpec): BindMount[] {
    const etc = join(this.dir, 'etc');
    const out: BindMount[] = [
      { source: join(etc, 'resolv.conf'), target: '/etc/resolv.conf', readOnly: false, file: true },
      { source: join(etc, 'hosts'), target: '/etc/hosts', readOnly: false, file: true },
    ];
    if (!this.spec().hostNetwork) out.push({ source: join(etc, 'hostname'), target: '/etc/hostname', readOnly: false, file: true });
    for (const m of c.volumeMounts ?? []) {
      const v = this.mounts.get(m.name);
      if (!v) throw new EnvError(`volume "${m.name}" not found in the pod`);
      let source = v.source ?? v.hostPath;
      if (source === undefined) continue;
      if (m.subPath) {
        source = join(source, m.subPath);
        if (!existsSync(source)) mkdirSync(source, { recursive: true });
      } else if (v.source === undefined) {
        // A host path the container sees as it is: only a different mountPath needs a mount.
        if (v.hostPath === m.mountPath) continue;
      }
      let file = false;
      try {
        file = statSync(source).isFile();
      } catch {
        file = false;
      }
      out.push({ source, target: m.mountPath, readOnly: m.readOnly === true, file });
    }
    const sa = this.mounts.get('lab-kube-api-access');
    if (sa?.source) out.push({ source: sa.source, target: SA_MOUNT, readOnly: true, file: false });
    return out;
  }

  // ---- containers -----------------------------------------------------------------------------------

  private async stepContainers(): Promise<void> {
    for (const c of this.order.filter((x) => x.init)) {
      const sidecar = c.spec.restartPolicy === 'Always';
      if (c.rec.state.kind === 'terminated' && c.rec.state.t.exitCode === 0 && !sidecar) continue;
      if (c.rec.state.kind === 'running') {
        if (sidecar && c.rec.started) continue;
        this.markInitializing();
        return;
      }
      if (c.rec.state.kind === 'terminated') return; // failed init with restartPolicy Never: pod Failed
      await this.maybeStart(c);
      this.markInitializing();
      return;
    }
    for (const c of this.order.filter((x) => !x.init)) {
      if (c.rec.state.kind === 'running' || c.rec.state.kind === 'terminated') continue;
      await this.maybeStart(c);
    }
  }

  /** App containers wait for the init containers: PodInitializing, as the kubelet says. */
  private markInitializing(): void {
    for (const c of this.order) {
      if (!c.init && c.rec.state.kind === 'waiting' && c.rec.state.reason === 'ContainerCreating' && !c.rec.lastTermination) c.rec.state = { kind: 'waiting', reason: 'PodInitializing' };
    }
  }

  private async maybeStart(c: Ctr): Promise<void> {
    if (c.killing || c.proc || c.adoptTimer) return;
    // Adopt a process left by an earlier kubelet.
    if (alive(c.saved.pid, c.saved.pidStart)) {
      this.adopt(c);
      return;
    }
    if (c.saved.pid !== undefined && c.saved.startedAt && !c.saved.done) {
      // It ran under an earlier kubelet and is gone: its exit code is unknown.
      const t: TerminatedState = { exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the kubelet restarted', startedAt: c.saved.startedAt, finishedAt: nowIso(), containerID: `lab://${c.saved.containerId}` };
      c.saved.pid = undefined;
      this.containerExited(c, t);
      return;
    }
    const wait = c.backoffUntil - Date.now();
    if (wait > 0) {
      this.timer(wait + 10, () => this.kick());
      return;
    }
    await this.start(c);
  }

  private imageDir(repository: string): string {
    return join(this.ctx.paths.stateDir, 'images', repository.replace(/[^A-Za-z0-9._-]+/g, '_'), 'bin');
  }

  private async start(c: Ctr): Promise<void> {
    const img = resolveImage(c.spec.image);
    if (!img.ok) {
      const n = c.rec.state.kind === 'waiting' && c.rec.state.reason === 'ErrImagePull' ? 'ImagePullBackOff' : img.reason;
      c.rec.state = { kind: 'waiting', reason: n, message: img.message };
      if (n !== 'ImagePullBackOff') this.event('Warning', 'Failed', img.message);
      this.backoff(c);
      return;
    }
    c.rec.imageID = `${img.repository}@sha256:${createHash('sha256').update(`${img.repository}:${img.tag}`).digest('hex')}`;
    // The image's PATH dir: links named as in the real image.
    const binDir = this.imageDir(img.repository);
    mkdirSync(binDir, { recursive: true });
    const hostPath = (process.env['PATH'] ?? BASE_PATH).split(':');
    const missing = new Map<string, string>();
    for (const tool of img.entry.tools) {
      const target = toolTarget(tool, this.ctx.repoRoot, hostPath.filter((d) => d !== binDir), this.ctx.busybox);
      const link = join(binDir, tool.name);
      if (target === undefined || !existsSync(target)) {
        missing.set(tool.name, target ?? tool.target);
        rmSync(link, { force: true });
        continue;
      }
      if (tool.node) {
        const body = `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(target)} "$@"\n`;
        writeFileSync(link, body, { mode: 0o755 });
      } else {
        let cur: string | undefined;
        try {
          cur = readlinkSync(link);
        } catch {
          cur = undefined;
        }
        if (cur !== target) {
          rmSync(link, { force: true });
          symlinkSync(target, link);
        }
      }
    }
    const spec = this.spec();
    const path = [binDir, ...BASE_PATH.split(':')].join(':');
    let env: Record<string, string>;
    try {
      const base: Record<string, string> = {
        PATH: path,
        HOSTNAME: spec.hostNetwork ? this.ctx.node : (spec.hostname ?? this.state.name),
        HOME: '/root',
        ...(img.entry.env ?? {}),
        ...kubernetesServiceEnv(this.ctx.apiHost, this.ctx.apiPort),
      };
      env = containerEnv(c.spec, this.fieldSource(), await this.envLookup(c.spec), base, this.ctx.allocatable);
    } catch (e) {
      c.rec.state = { kind: 'waiting', reason: 'CreateContainerConfigError', message: e instanceof Error ? e.message : String(e) };
      this.backoff(c);
      return;
    }
    const argv = containerArgv(img.entry, c.spec.command, c.spec.args).map((a) => expandVars(a, env));
    const exe = argv[0] ?? '';
    const miss = missing.get(exe);
    if (miss !== undefined) {
      c.rec.state = { kind: 'waiting', reason: 'CreateContainerError', message: `image ${c.spec.image} runs "${exe}" from ${miss}, which does not exist: build it (make build)` };
      this.event('Warning', 'Failed', c.rec.state.message ?? '');
      this.backoff(c);
      return;
    }
    const found = exe.includes('/') ? existsSync(exe) : path.split(':').some((d) => existsSync(join(d, exe)));
    if (!found) {
      c.rec.state = { kind: 'waiting', reason: 'RunContainerError', message: `exec: "${exe}": executable file not found in $PATH` };
      this.backoff(c);
      return;
    }
    let mounts: BindMount[];
    try {
      mounts = this.containerMounts(c.spec);
    } catch (e) {
      c.rec.state = { kind: 'waiting', reason: 'CreateContainerConfigError', message: e instanceof Error ? e.message : String(e) };
      this.backoff(c);
      return;
    }
    const cgDirs = createContainerCgroups(this.ctx.cgroupRoot, this.uid, c.spec.name, c.spec.resources);
    const hostname = spec.hostNetwork ? undefined : (spec.hostname ?? this.state.name);
    const readyFile = join(this.dir, `ready-${c.spec.name}`);
    rmSync(readyFile, { force: true });
    const script = launchScript({ cgroupDirs: cgDirs, mounts, workingDir: c.spec.workingDir, hostname, readyFile });
    const full = launchArgv({ netnsPath: spec.hostNetwork ? undefined : `/run/netns/${this.state.netnsName ?? ''}`, script, argv, uts: !spec.hostNetwork });
    mkdirSync(this.logDir, { recursive: true });
    const logFile = join(this.logDir, `${c.spec.name}-${c.saved.restartCount}.log`);
    const fd = openSync(logFile, 'a');
    const containerId = randomBytes(32).toString('hex');
    let proc: ChildProcess;
    try {
      proc = spawn(full[0]!, full.slice(1), { env, stdio: ['ignore', fd, fd], detached: true });
    } finally {
      closeSync(fd);
    }
    const startedAt = nowIso();
    c.proc = proc;
    c.gen++;
    c.saved.containerId = containerId;
    c.saved.pid = proc.pid;
    c.saved.startedAt = startedAt;
    c.saved.pidStart = proc.pid !== undefined ? procStartTime(proc.pid) : undefined;
    c.saved.done = undefined;
    c.saved.env = env;
    c.env = env;
    c.rec.containerID = `lab://${containerId}`;
    c.rec.state = { kind: 'running', startedAt };
    c.startupOk = !c.spec.startupProbe;
    c.readyOk = !c.spec.readinessProbe;
    this.updateReady(c);
    this.saveState();
    this.event('Normal', 'Started', `Started container ${c.spec.name}`);
    c.exited = new Promise<void>((resolve) => {
      c.onExit = resolve;
    });
    proc.once('error', (e) => this.ctx.log('warn', `pod ${this.name} container ${c.spec.name}: ${e.message}`));
    proc.once('exit', (code, signal) => {
      const sig = signal ? ({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGHUP: 1, SIGABRT: 6, SIGSEGV: 11 } as Record<string, number>)[signal] ?? 0 : undefined;
      const exitCode = code ?? (sig !== undefined ? 128 + sig : 1);
      const t: TerminatedState = {
        exitCode,
        reason: exitCode === 0 ? 'Completed' : 'Error',
        startedAt,
        finishedAt: nowIso(),
        containerID: `lab://${containerId}`,
      };
      if (sig !== undefined) t.signal = sig;
      if (exitCode !== 0) t.message = tailOf(logFile);
      if (sig === 9 && oomKills(this.ctx.cgroupRoot, this.uid, c.spec.name) > 0) t.reason = 'OOMKilled';
      this.containerExited(c, t);
    });
    // Probes and hooks enter the container's namespaces: only once its prelude has set them up.
    const gen = c.gen;
    void waitForFile(readyFile, () => c.gen !== gen || this.stopped).then(async (ok) => {
      rmSync(readyFile, { force: true });
      if (!ok || c.gen !== gen) return;
      this.startProbes(c);
      const postStart = c.spec.lifecycle?.postStart;
      if (!postStart) return;
      const r = await this.runHook(c, postStart, 30);
      if (r.ok || c.gen !== gen) return;
      this.event('Warning', 'FailedPostStartHook', `PostStartHook failed: ${r.output}`);
      await this.killContainer(c, this.graceSeconds());
    });
  }

  /** A lifecycle hook (exec or httpGet, as a probe handler) with its own timeout. */
  private runHook(c: Ctr, hook: Probe, timeoutSec: number): Promise<{ ok: boolean; output: string }> {
    const pid = c.saved.pid;
    if (pid === undefined) return Promise.resolve({ ok: false, output: 'the container is not running' });
    return runProbe({ ...hook, timeoutSeconds: Math.max(1, timeoutSec) }, {
      netnsPath: this.spec().hostNetwork ? undefined : `/run/netns/${this.state.netnsName ?? ''}`,
      podIP: this.state.podIPs[0] ?? '127.0.0.1',
      pid,
      env: c.env,
      ports: c.spec.ports ?? [],
    });
  }

  private async envLookup(c: ContainerSpec): Promise<{ configMap(n: string): Record<string, string> | undefined; secret(n: string): Record<string, string> | undefined }> {
    const cms = new Map<string, Record<string, string> | undefined>();
    const secs = new Map<string, Record<string, string> | undefined>();
    const src = this.volumeSources();
    const conv = (d: Record<string, Buffer> | undefined) => (d ? Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v.toString()])) : undefined);
    for (const e of c.envFrom ?? []) {
      if (e.configMapRef) cms.set(e.configMapRef.name, conv(await src.configMap(e.configMapRef.name)));
      if (e.secretRef) secs.set(e.secretRef.name, conv(await src.secret(e.secretRef.name)));
    }
    for (const e of c.env ?? []) {
      const r = e.valueFrom;
      if (r?.configMapKeyRef && !cms.has(r.configMapKeyRef.name)) cms.set(r.configMapKeyRef.name, conv(await src.configMap(r.configMapKeyRef.name)));
      if (r?.secretKeyRef && !secs.has(r.secretKeyRef.name)) secs.set(r.secretKeyRef.name, conv(await src.secret(r.secretKeyRef.name)));
    }
    return { configMap: (n) => cms.get(n), secret: (n) => secs.get(n) };
  }

  private adopt(c: Ctr): void {
    const pid = c.saved.pid!;
    const start = c.saved.pidStart;
    c.gen++;
    c.rec.containerID = `lab://${c.saved.containerId}`;
    c.rec.state = { kind: 'running', startedAt: c.saved.startedAt ?? nowIso() };
    c.startupOk = !c.spec.startupProbe;
    c.readyOk = !c.spec.readinessProbe;
    c.env = c.saved.env ?? {};
    const img = resolveImage(c.spec.image);
    if (img.ok) {
      c.rec.imageID = `${img.repository}@sha256:${createHash('sha256').update(`${img.repository}:${img.tag}`).digest('hex')}`;
      if (!c.env['PATH']) c.env = { ...c.env, PATH: [this.imageDir(img.repository), ...BASE_PATH.split(':')].join(':') };
    }
    this.updateReady(c);
    c.exited = new Promise<void>((resolve) => {
      c.onExit = resolve;
    });
    this.ctx.log('info', `pod ${this.name}: adopted container ${c.spec.name} (pid ${pid})`);
    // Not our child: watch /proc for it (the exit code is not ours to read).
    c.adoptTimer = setInterval(() => {
      if (procStartTime(pid) === start) return;
      clearInterval(c.adoptTimer);
      c.adoptTimer = undefined;
      const t: TerminatedState = { exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container exited while adopted after a kubelet restart; its exit code is unknown', startedAt: c.saved.startedAt ?? nowIso(), finishedAt: nowIso(), containerID: `lab://${c.saved.containerId}` };
      if (c.killing) {
        t.reason = 'Error';
        t.message = 'killed';
      }
      this.containerExited(c, t);
    }, 1000);
    this.startProbes(c);
  }

  private containerExited(c: Ctr, t: TerminatedState): void {
    c.proc = undefined;
    c.gen++;
    c.saved.pid = undefined;
    c.saved.pidStart = undefined;
    c.rec.ready = false;
    c.rec.started = false;
    const onExit = c.onExit;
    c.onExit = undefined;
    removeCgroups(this.ctx.cgroupRoot, this.uid, c.spec.name);
    const policy = this.spec().restartPolicy ?? 'Always';
    const sidecar = c.init && c.spec.restartPolicy === 'Always';
    const restart = !this.terminating && !this.pod.metadata.deletionTimestamp && (sidecar || (c.init ? policy !== 'Never' && t.exitCode !== 0 : policy === 'Always' || (policy === 'OnFailure' && t.exitCode !== 0)));
    if (restart) {
      const ranLong = Date.now() - Date.parse(t.startedAt) > 600_000;
      if (ranLong) c.backoffSec = 0;
      c.rec.lastTermination = t;
      c.saved.lastTermination = t;
      c.saved.restartCount++;
      c.rec.restartCount = c.saved.restartCount;
      const delay = c.backoffSec;
      c.backoffSec = Math.min(300, c.backoffSec === 0 ? 10 : c.backoffSec * 2);
      c.backoffUntil = Date.now() + delay * 1000;
      c.rec.state = delay > 0 ? { kind: 'waiting', reason: 'CrashLoopBackOff', message: `back-off ${delay}s restarting failed container=${c.spec.name} pod=${this.state.name}_${this.state.namespace}(${this.uid})` } : { kind: 'waiting', reason: 'ContainerCreating' };
      if (delay > 0) this.event('Warning', 'BackOff', 'Back-off restarting failed container');
    } else {
      c.rec.state = { kind: 'terminated', t };
      c.saved.done = t;
    }
    this.saveState();
    onExit?.();
    this.kick();
  }

  private backoff(c: Ctr): void {
    const delay = Math.max(10, c.backoffSec);
    c.backoffSec = Math.min(300, delay * 2);
    c.backoffUntil = Date.now() + delay * 1000;
    this.timer(delay * 1000 + 10, () => this.kick());
  }

  private updateReady(c: Ctr): void {
    const running = c.rec.state.kind === 'running';
    c.rec.started = running && c.startupOk;
    c.rec.ready = running && c.startupOk && c.readyOk;
    this.schedulePublish();
  }

  // ---- probes -------------------------------------------------------------------------------------

  private startProbes(c: Ctr): void {
    const gen = c.gen;
    const kinds: Array<['startup' | 'readiness' | 'liveness', Probe | undefined]> = [
      ['startup', c.spec.startupProbe],
      ['readiness', c.spec.readinessProbe],
      ['liveness', c.spec.livenessProbe],
    ];
    for (const [kind, probe] of kinds) {
      if (!probe) continue;
      void this.probeLoop(c, gen, kind, probe);
    }
  }

  private async probeLoop(c: Ctr, gen: number, kind: 'startup' | 'readiness' | 'liveness', p: Probe): Promise<void> {
    const live = () => c.gen === gen && !this.stopped && c.rec.state.kind === 'running';
    const period = Math.max(1, p.periodSeconds ?? 10) * 1000;
    const failureThreshold = Math.max(1, p.failureThreshold ?? 3);
    const successThreshold = Math.max(1, p.successThreshold ?? 1);
    await sleep((p.initialDelaySeconds ?? 0) * 1000);
    let ok = 0;
    let fail = 0;
    while (live()) {
      if (kind !== 'startup' && !c.startupOk) {
        await sleep(Math.min(period, 1000));
        continue;
      }
      const pid = c.saved.pid;
      if (pid === undefined) return;
      const r = await runProbe(p, {
        netnsPath: this.spec().hostNetwork ? undefined : `/run/netns/${this.state.netnsName ?? ''}`,
        podIP: this.state.podIPs[0] ?? '127.0.0.1',
        pid,
        env: c.env,
        ports: c.spec.ports ?? [],
      });
      if (!live()) return;
      if (r.ok) {
        ok++;
        fail = 0;
      } else {
        fail++;
        ok = 0;
      }
      if (kind === 'startup') {
        if (r.ok) {
          c.startupOk = true;
          this.updateReady(c);
          return;
        }
        if (fail >= failureThreshold) {
          this.event('Warning', 'Unhealthy', `Startup probe failed: ${r.output}`);
          await this.killContainer(c, this.graceSeconds());
          return;
        }
      } else if (kind === 'readiness') {
        if (r.ok && ok >= successThreshold && !c.readyOk) {
          c.readyOk = true;
          this.updateReady(c);
        } else if (!r.ok && fail >= failureThreshold && c.readyOk) {
          c.readyOk = false;
          this.updateReady(c);
        }
        if (!r.ok && fail === 1) this.event('Warning', 'Unhealthy', `Readiness probe failed: ${r.output}`);
      } else if (!r.ok && fail >= failureThreshold) {
        this.event('Warning', 'Unhealthy', `Liveness probe failed: ${r.output}`);
        this.event('Normal', 'Killing', `Container ${c.spec.name} failed liveness probe, will be restarted`);
        await this.killContainer(c, this.graceSeconds());
        return;
      }
      await sleep(period);
    }
  }

  private graceSeconds(): number {
    const md = this.pod.metadata.deletionGracePeriodSeconds;
    return md ?? this.spec().terminationGracePeriodSeconds ?? 30;
  }

  /** SIGTERM every process of the container, SIGKILL after the grace period; resolves when it exited. */
  private async killContainer(c: Ctr, graceSec: number, preStop = false): Promise<void> {
    if (c.rec.state.kind !== 'running' || !c.exited) return;
    c.killing = true;
    const hook = c.spec.lifecycle?.preStop;
    if (preStop && hook && c.saved.pid !== undefined) {
      // The preStop hook runs inside the grace period, before SIGTERM.
      const r = await Promise.race([this.runHook(c, hook, graceSec), c.exited.then(() => undefined)]);
      if (r && !r.ok) this.event('Warning', 'FailedPreStopHook', `PreStopHook failed: ${r.output}`);
    }
    const signalAll = (sig: NodeJS.Signals) => {
      const pids = new Set(cgroupPids(this.ctx.cgroupRoot, this.uid, c.spec.name));
      if (c.saved.pid !== undefined) pids.add(c.saved.pid);
      for (const pid of pids) {
        try {
          process.kill(pid, sig);
        } catch {
          // gone
        }
      }
    };
    signalAll('SIGTERM');
    const exited = c.exited;
    const timedOut = await Promise.race([exited.then(() => false), sleep(graceSec * 1000).then(() => true)]);
    if (timedOut) signalAll('SIGKILL');
    await exited;
    // Stragglers (children that outlived the main process) in the container's cgroups.
    for (let i = 0; i < 50 && cgroupPids(this.ctx.cgroupRoot, this.uid, c.spec.name).length > 0; i++) {
      for (const pid of cgroupPids(this.ctx.cgroupRoot, this.uid, c.spec.name)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await sleep(100);
    }
    removeCgroups(this.ctx.cgroupRoot, this.uid, c.spec.name);
    c.killing = false;
    // A restart (liveness) waits for the kill to finish.
    this.kick();
  }

  // ---- deletion -----------------------------------------------------------------------------------

  private async terminate(): Promise<void> {
    const grace = this.graceSeconds();
    this.ctx.log('info', `pod ${this.name}: terminating (grace ${grace}s)`);
    if (this.sandboxRetry) clearTimeout(this.sandboxRetry);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.tokenTimer) clearTimeout(this.tokenTimer);
    // Processes left by an earlier kubelet (the pod was deleted while none ran): adopt them to stop them.
    for (const c of this.order) if (!c.proc && !c.adoptTimer && alive(c.saved.pid, c.saved.pidStart)) this.adopt(c);
    for (const c of this.order) if (c.rec.state.kind === 'running') this.event('Normal', 'Killing', `Stopping container ${c.spec.name}`);
    await Promise.all(this.order.map((c) => this.killContainer(c, grace, true)));
    await this.teardown();
    this.publishNow();
    const ns = encodeURIComponent(this.state.namespace);
    const r = await this.ctx.api.request('DELETE', `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(this.state.name)}`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: this.uid } });
    if (r.status >= 300 && r.status !== 404 && r.status !== 409) {
      this.ctx.log('warn', `pod ${this.name}: final delete: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    }
  }

  /** Stops everything of the pod on this node (processes must be gone): network, netns, cgroups, files. */
  async teardown(): Promise<void> {
    for (const c of this.order) {
      c.gen++;
      if (c.adoptTimer) clearInterval(c.adoptTimer);
    }
    await this.teardownNetwork();
    for (const c of this.order) removeCgroups(this.ctx.cgroupRoot, this.uid, c.spec.name);
    removeCgroups(this.ctx.cgroupRoot, this.uid);
    this.stopped = true;
    rmSync(this.dir, { recursive: true, force: true });
    this.ctx.forget(this.uid);
  }

  /** Kills every process of a pod that is gone from the API (found in state at start). */
  async killAll(): Promise<void> {
    this.terminating ??= (async () => {
      for (const c of this.order) {
        if (!c.proc && !c.adoptTimer && alive(c.saved.pid, c.saved.pidStart)) this.adopt(c);
      }
      await Promise.all(this.order.map((c) => this.killContainer(c, 2)));
      for (const c of this.order) {
        for (const pid of cgroupPids(this.ctx.cgroupRoot, this.uid, c.spec.name)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
      await this.teardown();
    })();
    await this.terminating;
  }

  // ---- events and status --------------------------------------------------------------------------

  private event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    const ns = this.state.namespace;
    const t = new Date().toISOString();
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${this.state.name}.`, namespace: ns },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: ns, name: this.state.name, uid: this.uid },
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: 'kubelet', host: this.ctx.node },
      firstTimestamp: t,
      lastTimestamp: t,
      count: 1,
      reportingComponent: 'kubelet',
      reportingInstance: this.ctx.node,
    };
    this.ctx.api.request('POST', `/api/v1/namespaces/${encodeURIComponent(ns)}/events`, body).catch(() => undefined);
  }

  private schedulePublish(): void {
    if (this.publishTimer || this.stopped) return;
    this.publishTimer = setTimeout(() => {
      this.publishTimer = undefined;
      this.publishNow();
    }, 100);
  }

  private publish(): void {
    this.schedulePublish();
  }

  private publishNow(): void {
    const spec = this.spec();
    const prev = this.pod.status as { conditions?: PodCondition[]; phase?: string } | undefined;
    const status = buildPodStatus({
      restartPolicy: spec.restartPolicy ?? 'Always',
      init: this.order.filter((c) => c.init).map((c) => c.rec),
      containers: this.order.filter((c) => !c.init).map((c) => c.rec),
      sandboxReady: this.sandboxReady && !this.state.networkDown,
      podIPs: this.state.podIPs,
      hostIP: this.ctx.nodeIp,
      startTime: this.state.startTime,
      previous: prev,
      now: nowIso(),
      podMessage: this.podMessage,
    });
    const fp = statusFingerprint(status);
    if (fp === this.lastStatus) return;
    this.lastStatus = fp;
    const ns = encodeURIComponent(this.state.namespace);
    this.ctx.api
      .request('PATCH', `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(this.state.name)}/status`, { status }, 'application/strategic-merge-patch+json')
      .then((r) => {
        if (r.status >= 300) {
          this.lastStatus = '';
          if (r.status !== 404) this.ctx.log('warn', `pod ${this.name}: status patch: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
        }
      })
      .catch((e: unknown) => {
        this.lastStatus = '';
        this.ctx.log('warn', `pod ${this.name}: status patch: ${e instanceof Error ? e.message : String(e)}`);
        this.timer(2000, () => this.publishNow());
      });
  }
}

/** OOM kills in the container's v1 memory cgroup (memory.oom_control `oom_kill N`). */
function oomKills(cgroupRoot: string, podUid: string, container: string): number {
  try {
    const t = readFileSync(join('/sys/fs/cgroup/memory', cgroupRoot, podUid, container, 'memory.oom_control'), 'utf8');
    return Number(/^oom_kill (\d+)$/m.exec(t)?.[1] ?? '0');
  } catch {
    return 0;
  }
}

/** Waits (checking every 20 ms, up to 60 s) until `file` exists; false if `cancelled()` first or never. */
async function waitForFile(file: string, cancelled: () => boolean): Promise<boolean> {
  for (let i = 0; i < 3000; i++) {
    if (existsSync(file)) return true;
    if (cancelled()) return false;
    await sleep(20);
  }
  return false;
}

function tailOf(file: string): string {
  try {
    const s = readFileSync(file, 'utf8');
    return s.slice(-1024).trim();
  } catch {
    return '';
  }
}
