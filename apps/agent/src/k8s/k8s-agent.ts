// cilium-agent's Kubernetes mode. Two phases, around the Daemon's own start:
//  1. connect() + podCidr(): Node and CiliumNode informers synced; this node's Node found; its CiliumNode
//     created or brought up to date (spec.addresses InternalIP, owner reference to the Node, spec.ipam {}),
//     then the pod CIDR awaited (spec.ipam.podCIDRs, written by the operator; or the Node's spec.podCIDRs with
//     ipam=kubernetes).
//  2. attach(): the other CiliumNodes feed NodeManager (replaceAll after the first listing, then
//     upsert/delete); a Pod informer (spec.nodeName=<this node>) gives endpoints their pod labels; every local
//     endpoint of a pod has a CiliumEndpoint (created, updated only when it differs, deleted with the endpoint);
//     with a ServiceManager, Services + EndpointSlices + this node's pods' hostPorts feed it (service-watcher.ts).
// The informers re-list / resume after an apiserver restart and emit only differences, and every write is
// preceded by a comparison, so a restart of the apiserver causes no rewrites.
import {
  Informer, isAlreadyExists, isNotFound, KubeClient, loadKubeConfig, Resources,
  type CiliumEndpoint, type CiliumNode, type Node, type Pod,
} from '@cilium-ts/k8s';
import type { AgentConfig } from '../config.js';
import { AgentError } from '../errors.js';
import type { Logger } from '../log.js';
import type { EndpointManager } from '../endpoint/endpoint-manager.js';
import type { NodeManager } from '../node/node-manager.js';
import type { RemoteNode } from '../node/remote-node.js';
import type { EndpointRecord } from '../state-store.js';
import { buildCiliumEndpoint, ciliumEndpointUpToDate, podSecurityLabels } from './cilium-endpoint.js';
import { buildCiliumNode, ciliumNodePatch, nodeInternalIp, remoteNodeFromCiliumNode } from './cilium-node.js';
import { nodeAddresses } from './service-translate.js';
import { ServiceWatcher, type ServiceSink, type ServiceWatcherStatus } from './service-watcher.js';

export interface K8sAgentOptions {
  config: AgentConfig;
  log: Logger;
  /** A client (tests); default: from --k8s-kubeconfig-path / $KUBECONFIG / in-cluster. */
  client?: KubeClient;
}

export interface K8sAgentStatus {
  state: 'Ok' | 'Warning' | 'Failure' | 'Disabled';
  msg: string;
  synced: boolean;
  informers: Record<string, { synced: boolean; lists: number; watches: number; errors: number }>;
  ciliumEndpoints: { created: number; updated: number; deleted: number; unchanged: number; failed: number; pending: number };
  ciliumNode: { created: number; patched: number };
  /** Services -> ServiceManager (absent without a ServiceManager). */
  services?: ServiceWatcherStatus;
}

const IPV4_CIDR = /^\d+\.\d+\.\d+\.\d+\/\d+$/;

export class K8sAgent {
  readonly client: KubeClient;
  readonly nodeName: string;
  readonly #o: K8sAgentOptions;
  readonly #log: Logger;
  readonly #nodeInf: Informer<Node>;
  readonly #cnInf: Informer<CiliumNode>;
  #podInf: Informer<Pod> | undefined;
  #services: ServiceWatcher | undefined;
  readonly #synced = { nodes: false, ciliumNodes: false, pods: false };
  #stopped = false;
  #wake: (() => void) | undefined;
  #nodeIp: string | undefined;
  #podCidr: string | undefined;
  #nodes: NodeManager | undefined;
  #endpoints: EndpointManager | undefined;
  #attached = false;
  #lastError: string | undefined;
  readonly #queue = new Set<string>();
  #draining: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #backoffMs = 500;
  readonly stats = {
    cep: { created: 0, updated: 0, deleted: 0, unchanged: 0, failed: 0 },
    ciliumNode: { created: 0, patched: 0 },
  };

  constructor(o: K8sAgentOptions) {
    this.#o = o;
    this.#log = o.log.child({ subsys: 'k8s' });
    this.nodeName = o.config.nodeName;
    if (o.client) {
      this.client = o.client;
    } else {
      try {
        this.client = new KubeClient(loadKubeConfig(o.config.k8sKubeconfigPath));
      } catch (e) {
        const err = e as { code?: string; hint?: string; message?: string };
        throw new AgentError(err.code ?? 'EKUBECONFIG', `Kubernetes mode: ${err.message ?? String(e)}`, err.hint ?? 'pass --k8s-kubeconfig-path, set KUBECONFIG, or run in-cluster');
      }
    }
    const logger = { debug: (x: object, m: string) => this.#log.debug(x, m), warn: (x: object, m: string) => this.#log.warn(x, m) };
    this.#nodeInf = new Informer<Node>(this.client, Resources.Node, { logger }).on({
      onAdd: (n) => this.#onNode(n),
      onUpdate: (n) => this.#onNode(n),
    });
    this.#cnInf = new Informer<CiliumNode>(this.client, Resources.CiliumNode, { logger }).on({
      onAdd: (cn) => this.#onCiliumNode(cn),
      onUpdate: (cn) => this.#onCiliumNode(cn),
      onDelete: (cn) => this.#onCiliumNodeDelete(cn),
    });
    this.#podInf = new Informer<Pod>(this.client, Resources.Pod, { logger, fieldSelector: `spec.nodeName=${this.nodeName}` }).on({
      onAdd: (p) => {
        this.#services?.onPod(p);
        this.#onPod(p, undefined);
      },
      onUpdate: (p, old) => {
        this.#services?.onPod(p);
        this.#onPod(p, old);
      },
      onDelete: (p) => {
        this.#services?.onPodDelete(p);
        this.#enqueue(`${p.metadata?.namespace}/${p.metadata?.name}`);
      },
    });
  }

  /** Every informer has delivered its first listing and the datapath consumers are attached. */
  get synced(): boolean {
    return this.#attached && this.#synced.nodes && this.#synced.ciliumNodes && this.#synced.pods && (this.#services?.synced ?? true);
  }

  get podCidrValue(): string | undefined {
    return this.#podCidr;
  }

  /** Phase 1a: start the Node and CiliumNode informers, wait for their listings and for this node's Node. */
  async connect(): Promise<Node> {
    this.#nodeInf.start();
    this.#cnInf.start();
    void this.#nodeInf.synced.then(() => (this.#synced.nodes = true));
    void this.#cnInf.synced.then(() => (this.#synced.ciliumNodes = true));
    this.#log.info({ server: this.client.server.origin, node: this.nodeName }, 'Kubernetes mode: connecting to the apiserver');
    await this.#until('the Node and CiliumNode listings', () => (this.#synced.nodes && this.#synced.ciliumNodes ? true : undefined));
    return this.#until(`the Node object ${this.nodeName}`, () => this.#nodeInf.get(this.nodeName));
  }

  /** This node's InternalIP from its Node object (what --node-ip defaults to in Kubernetes mode). */
  nodeInternalIp(): string | undefined {
    return nodeInternalIp(this.#nodeInf.get(this.nodeName));
  }

  /** Phase 1b: create / update this node's CiliumNode, then wait for its pod CIDR. */
  async podCidr(nodeIp: string | undefined): Promise<string> {
    this.#nodeIp = nodeIp;
    await this.#retry('create/update the CiliumNode', () => this.#ensureCiliumNode());
    const cidr = await this.#until(this.#o.config.ipamMode === 'kubernetes' ? `spec.podCIDRs on Node ${this.nodeName}` : `spec.ipam.podCIDRs on CiliumNode ${this.nodeName} (written by cilium-operator)`, () => this.#currentPodCidr());
    this.#podCidr = cidr;
    this.#log.info({ podCidr: cidr, ipam: this.#o.config.ipamMode }, 'pod CIDR of this node');
    return cidr;
  }

  #currentPodCidr(): string | undefined {
    const list = this.#o.config.ipamMode === 'kubernetes'
      ? (this.#nodeInf.get(this.nodeName)?.spec?.podCIDRs ?? (this.#nodeInf.get(this.nodeName)?.spec?.podCIDR ? [this.#nodeInf.get(this.nodeName)?.spec?.podCIDR ?? ''] : []))
      : (this.#cnInf.get(this.nodeName)?.spec?.ipam?.podCIDRs ?? []);
    return list.find((c) => IPV4_CIDR.test(c));
  }

  async #ensureCiliumNode(): Promise<void> {
    const want = buildCiliumNode({ name: this.nodeName, nodeIp: this.#nodeIp, node: this.#nodeInf.get(this.nodeName) });
    let cur = this.#cnInf.get(this.nodeName);
    if (!cur) {
      try {
        if (this.#podCidr !== undefined) want.spec.ipam = { podCIDRs: [this.#podCidr] }; // re-creating: keep ours
        await this.client.create(Resources.CiliumNode, want);
        this.stats.ciliumNode.created++;
        this.#log.info({ node: this.nodeName, ip: this.#nodeIp }, 'CiliumNode created');
        return;
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
        cur = await this.client.get<CiliumNode>(Resources.CiliumNode, this.nodeName);
      }
    }
    const patch = ciliumNodePatch(cur, want);
    if (!patch) return;
    await this.client.patch(Resources.CiliumNode, this.nodeName, patch, { type: 'merge' });
    this.stats.ciliumNode.patched++;
    this.#log.info({ node: this.nodeName, patch }, 'CiliumNode updated');
  }

  /**
   * Phase 2: feed NodeManager from CiliumNodes, start the Pod informer, sync CiliumEndpoints; with `services`
   * (the daemon's ServiceManager) also watch Services and EndpointSlices and feed it (bulk first, then deltas).
   */
  async attach(d: { nodes: NodeManager; endpoints: EndpointManager; services?: ServiceSink | undefined }): Promise<void> {
    this.#nodes = d.nodes;
    this.#endpoints = d.endpoints;
    const remotes: RemoteNode[] = [];
    for (const cn of this.#cnInf.list()) {
      const r = remoteNodeFromCiliumNode(cn);
      if (r && r.name !== this.nodeName) remotes.push(r);
    }
    try {
      d.nodes.replaceAll(remotes);
    } catch (e) {
      // one broken CiliumNode must not hide the others: add them one by one
      this.#log.warn({ err: (e as Error).message }, 'a CiliumNode is invalid; adding the others one by one');
      for (const r of remotes) this.#upsertRemote(r);
      d.nodes.markSynced();
    }
    const podInf = this.#podInf;
    if (!podInf) return;
    if (d.services) {
      this.#services = new ServiceWatcher({
        client: this.client,
        sink: d.services,
        log: this.#log,
        node: () => ({ name: this.nodeName, ips: nodeAddresses(this.#nodeInf.get(this.nodeName), this.#nodeIp) }),
        pods: podInf,
      });
    }
    podInf.start();
    const services = this.#services;
    const servicesStarted = services?.start();
    await this.#until('the listing of this node\'s pods', async () => {
      await podInf.synced;
      return true;
    });
    this.#synced.pods = true;
    if (servicesStarted) await this.#until('the Service and EndpointSlice listings', async () => {
      await servicesStarted;
      return true;
    });
    this.#attached = true;
    for (const rec of d.endpoints.records()) {
      this.#relabel(rec);
      if (rec.podName !== undefined && rec.namespace !== undefined) this.#enqueue(`${rec.namespace}/${rec.podName}`);
    }
    await this.#deleteStaleCiliumEndpoints().catch((e: unknown) => this.#log.warn({ err: (e as Error).message }, 'listing CiliumEndpoints for stale ones failed'));
    this.#kick();
  }

  /** Hooks for EndpointManager: pod labels on create, CiliumEndpoint sync on every change. */
  labelsFor(namespace: string, podName: string): string[] | undefined {
    const pod = this.#podInf?.get(`${namespace}/${podName}`);
    return pod ? podSecurityLabels(pod, this.#o.config.clusterName) : undefined;
  }

  onEndpointChange(_event: 'upsert' | 'delete', rec: EndpointRecord): void {
    if (rec.podName === undefined || rec.namespace === undefined) return;
    this.#enqueue(`${rec.namespace}/${rec.podName}`);
  }

  status(): K8sAgentStatus {
    const inf = (i: Informer<never> | Informer<Node> | Informer<CiliumNode> | Informer<Pod> | undefined, synced: boolean) => ({ synced, lists: i?.stats.lists ?? 0, watches: i?.stats.watches ?? 0, errors: i?.stats.errors ?? 0 });
    const synced = this.synced;
    return {
      state: this.#lastError ? 'Warning' : synced ? 'Ok' : 'Warning',
      msg: this.#lastError ?? (synced ? `${this.client.server.origin}: caches synced` : `${this.client.server.origin}: waiting for caches`),
      synced,
      informers: {
        nodes: inf(this.#nodeInf, this.#synced.nodes),
        ciliumnodes: inf(this.#cnInf, this.#synced.ciliumNodes),
        pods: inf(this.#podInf, this.#synced.pods),
      },
      ciliumEndpoints: { ...this.stats.cep, pending: this.#queue.size },
      ciliumNode: { ...this.stats.ciliumNode },
      ...(this.#services ? { services: this.#services.status() } : {}),
    };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    await Promise.all([this.#nodeInf.stop(), this.#cnInf.stop(), this.#podInf?.stop(), this.#services?.stop()]);
    await this.#draining;
  }

  // ---- event handlers -------------------------------------------------------------------------------------

  #onNode(n: Node): void {
    if (n.metadata?.name !== this.nodeName) return;
    this.#wake?.();
    this.#services?.nodeChanged();
  }

  #onCiliumNode(cn: CiliumNode): void {
    const name = cn.metadata?.name;
    if (name === this.nodeName) {
      const have = this.#podCidr;
      const now = (cn.spec?.ipam?.podCIDRs ?? []).find((c) => IPV4_CIDR.test(c));
      if (have !== undefined && this.#o.config.ipamMode === 'cluster-pool' && now !== have) {
        this.#lastError = `AGENT_POD_CIDR_CHANGED: CiliumNode ${name} now has pod CIDR ${now ?? '(none)'}, this agent runs with ${have}`;
        this.#log.error({ code: 'AGENT_POD_CIDR_CHANGED', have, now, hint: 'restore spec.ipam.podCIDRs, or drain the node, remove the agent state dir and restart the agent' }, 'the pod CIDR of this node changed under the running agent; keeping the old one');
      }
      this.#wake?.();
      return;
    }
    if (!this.#nodes) return;
    const r = remoteNodeFromCiliumNode(cn);
    if (r) this.#upsertRemote(r);
    else if (name && this.#nodes.get(name)) this.#nodes.delete(name);
  }

  #onCiliumNodeDelete(cn: CiliumNode): void {
    const name = cn.metadata?.name;
    if (name === this.nodeName) {
      // Our CiliumNode went (someone deleted it): put it back with the CIDR we use, while our Node exists.
      if (this.#podCidr !== undefined && this.#nodeInf.get(this.nodeName) && !this.#stopped) {
        this.#log.warn({ node: name }, 'own CiliumNode deleted; re-creating it with the pod CIDR in use');
        void this.#retry('re-create the CiliumNode', () => this.#ensureCiliumNode());
      }
      return;
    }
    if (name && this.#nodes?.delete(name)) this.#log.info({ node: name }, 'remote node removed');
  }

  #upsertRemote(r: RemoteNode): void {
    if (!this.#nodes) return;
    const cur = this.#nodes.get(r.name);
    if (cur && cur.ip === r.ip && JSON.stringify(cur.podCIDRs) === JSON.stringify(r.podCIDRs)) return;
    try {
      this.#nodes.upsert(r);
      this.#log.info({ node: r.name, ip: r.ip, podCIDRs: r.podCIDRs }, 'remote node updated');
    } catch (e) {
      this.#log.warn({ node: r.name, err: (e as Error).message }, 'CiliumNode ignored');
    }
  }

  #onPod(p: Pod, old: Pod | undefined): void {
    const key = `${p.metadata?.namespace}/${p.metadata?.name}`;
    const changed = !old
      || JSON.stringify(old.metadata?.labels ?? {}) !== JSON.stringify(p.metadata?.labels ?? {})
      || old.metadata?.uid !== p.metadata?.uid
      || old.spec?.serviceAccountName !== p.spec?.serviceAccountName;
    if (!changed || !this.#endpoints) return;
    for (const rec of this.#endpoints.records()) {
      if (rec.namespace === p.metadata?.namespace && rec.podName === p.metadata?.name) this.#relabel(rec);
    }
    this.#enqueue(key);
  }

  /** Endpoint labels = its own (non-k8s) labels + the pod's security labels. */
  #relabel(rec: EndpointRecord): void {
    if (rec.podName === undefined || rec.namespace === undefined || !this.#endpoints) return;
    const k8s = this.labelsFor(rec.namespace, rec.podName);
    if (!k8s) return;
    const own = rec.labels.filter((l) => !l.startsWith('k8s:'));
    this.#endpoints.setLabels(rec.id, [...own, ...k8s]);
  }

  // ---- CiliumEndpoint sync ------------------------------------------------------------------------------

  #enqueue(key: string): void {
    if (this.#stopped) return;
    this.#queue.add(key);
    if (this.#attached) this.#kick();
  }

  #kick(): void {
    if (this.#draining || this.#stopped || this.#retryTimer) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined;
      if (this.#queue.size > 0 && !this.#stopped && !this.#retryTimer) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.size > 0 && !this.#stopped) {
      const key = this.#queue.values().next().value as string;
      this.#queue.delete(key);
      try {
        await this.#syncCiliumEndpoint(key);
        this.#backoffMs = 500;
      } catch (e) {
        this.stats.cep.failed++;
        this.#queue.add(key);
        this.#log.warn({ cep: key, code: (e as { code?: string }).code, err: (e as Error).message, retryMs: this.#backoffMs }, 'CiliumEndpoint sync failed; retrying');
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.#kick();
        }, this.#backoffMs);
        this.#retryTimer.unref();
        this.#backoffMs = Math.min(30_000, this.#backoffMs * 2);
        return;
      }
    }
  }

  async #syncCiliumEndpoint(key: string): Promise<void> {
    const [ns = '', name = ''] = key.split('/');
    const rec = this.#endpoints?.records().find((e) => e.namespace === ns && e.podName === name);
    const cur = await this.client.tryGet<CiliumEndpoint>(Resources.CiliumEndpoint, name, ns);
    if (!rec) {
      if (cur && this.#ours(cur)) {
        await this.client.delete(Resources.CiliumEndpoint, name, ns, cur.metadata.uid ? { uid: cur.metadata.uid } : {});
        this.stats.cep.deleted++;
        this.#log.debug({ cep: key }, 'CiliumEndpoint deleted');
      }
      return;
    }
    const pod = this.#podInf?.get(key);
    if (!pod) return; // not (yet, or no longer) a pod of this node: its add event brings us back
    const want = buildCiliumEndpoint(rec, { nodeIp: this.#nodeIp, pod });
    if (!want) return;
    if (!cur) {
      try {
        await this.client.create(Resources.CiliumEndpoint, want);
        this.stats.cep.created++;
        this.#log.debug({ cep: key, id: rec.id }, 'CiliumEndpoint created');
        return;
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
        this.#queue.add(key); // raced with another writer: compare again
        return;
      }
    }
    if (ciliumEndpointUpToDate(cur, want)) {
      this.stats.cep.unchanged++;
      return;
    }
    try {
      await this.client.update(Resources.CiliumEndpoint, {
        ...cur,
        metadata: { ...cur.metadata, ownerReferences: want.metadata.ownerReferences ?? cur.metadata.ownerReferences ?? [] },
        status: want.status ?? {},
      });
      this.stats.cep.updated++;
      this.#log.debug({ cep: key, id: rec.id }, 'CiliumEndpoint updated');
    } catch (e) {
      if (isNotFound(e) || (e as { status?: number }).status === 409) {
        this.#queue.add(key);
        return;
      }
      throw e;
    }
  }

  /** A CiliumEndpoint this node wrote (networking.node is our IP), i.e. one we may delete. */
  #ours(cep: CiliumEndpoint): boolean {
    const node = cep.status?.networking?.node;
    return node !== undefined && node === this.#nodeIp;
  }

  /** At attach: CiliumEndpoints of this node whose endpoint is gone (removed while the agent was away). */
  async #deleteStaleCiliumEndpoints(): Promise<void> {
    const { items } = await this.client.list<CiliumEndpoint>(Resources.CiliumEndpoint);
    const local = new Set((this.#endpoints?.records() ?? []).map((e) => `${e.namespace}/${e.podName}`));
    for (const cep of items) {
      const key = `${cep.metadata.namespace}/${cep.metadata.name}`;
      if (this.#ours(cep) && !local.has(key)) this.#enqueue(key);
    }
  }

  // ---- helpers ------------------------------------------------------------------------------------------

  /** Waits until fn() gives a value; wakes on informer events (and every second); logs every 15 s. */
  async #until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>): Promise<T> {
    const started = Date.now();
    let logged = started;
    for (;;) {
      if (this.#stopped) throw new AgentError('AGENT_STOPPING', `stopped while waiting for ${what}`, 'nothing to do');
      const v = await fn();
      if (v !== undefined) return v;
      if (Date.now() - logged > 15_000) {
        logged = Date.now();
        this.#log.info({ waitingSeconds: Math.round((logged - started) / 1000) }, `waiting for ${what}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  async #retry(what: string, fn: () => Promise<void>): Promise<void> {
    let backoff = 500;
    for (;;) {
      try {
        await fn();
        return;
      } catch (e) {
        if (this.#stopped) throw e;
        this.#log.warn({ code: (e as { code?: string }).code, err: (e as Error).message, retryMs: backoff }, `could not ${what}; retrying`);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(30_000, backoff * 2);
      }
    }
  }
}
