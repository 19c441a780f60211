// Kubernetes Services, EndpointSlices and this node's pods (hostPorts) -> the agent's ServiceManager.
//  - Two informers (core/v1 services, discovery.k8s.io/v1 endpointslices) plus the K8sAgent's pod informer
//    (spec.nodeName=<this node>), whose events K8sAgent forwards (onPod / onPodDelete).
//  - Once all three have listed: every Service and pod is translated (service-translate.ts) and handed to
//    the manager in one bulk syncAll(specs, 'k8s') (which also removes what an earlier agent left).
//  - Then each event recomputes only the Service (or pod) it concerns, and the difference from what was
//    last applied goes to the manager: upsertService for new or changed frontends, deleteServiceByFrontend
//    for frontends that went away. Specs equal to what was applied are skipped, and the informers emit only
//    real changes after a re-list or resume, so an apiserver restart causes no manager calls at all.
//  - A failed manager call keeps the key queued and is retried with back-off (0.5 s .. 30 s).
import type { FrontendAddress, KubeProxyReplacementStatus, ServiceSpec } from '@cilium-ts/api';
import { Informer, Resources, type EndpointSlice, type KubeClient, type Pod, type Service } from '@cilium-ts/k8s';
import type { Logger } from '../log.js';
import {
  frontendKey, serviceKey, sliceServiceKey, specFingerprint, translateHostPorts, translateService,
  type LocalNodeInfo, type ServiceFeatures,
} from './service-translate.js';

/** What the watcher needs from the agent's ServiceManager (apps/agent/src/service/service-manager.ts). */
export interface ServiceSink {
  upsertService(spec: ServiceSpec, source?: string): { id: number; created: boolean };
  deleteServiceByFrontend(fe: FrontendAddress): boolean;
  syncAll(specs: ServiceSpec[], source: string): { updated: number; deleted: number };
  status(): KubeProxyReplacementStatus;
}

export const K8S_SERVICE_SOURCE = 'k8s';

export interface ServiceWatcherOptions {
  client: KubeClient;
  sink: ServiceSink;
  log: Logger;
  /** This node's name and IPv4 addresses (read on every recompute; call nodeChanged() when they change). */
  node: () => LocalNodeInfo;
  /** The pods of this node (the K8sAgent's informer; its events come through onPod / onPodDelete). */
  pods: { list(): Pod[]; get?(key: string): Pod | undefined; synced: Promise<void> };
  /** Default: from sink.status().features. */
  features?: ServiceFeatures;
}

export interface ServiceWatcherStatus {
  synced: boolean;
  features: ServiceFeatures;
  informers: Record<string, { synced: boolean; lists: number; watches: number; errors: number }>;
  services: number;
  frontends: number;
  stats: ServiceWatcher['stats'];
  pending: number;
  lastError?: string;
}

interface Applied {
  spec: ServiceSpec;
  fp: string;
}

/** Features as the manager reports them; ClusterIP is always on. LoadBalancer rides on NodePort (as in Cilium). */
export function featuresFromStatus(s: KubeProxyReplacementStatus | undefined): ServiceFeatures {
  const f = s?.features;
  const nodePort = f?.nodePort.enabled ?? false;
  return { nodePort, loadBalancer: nodePort, externalIPs: f?.externalIPs.enabled ?? false, hostPort: f?.hostPort.enabled ?? false };
}

export class ServiceWatcher {
  readonly #o: ServiceWatcherOptions;
  readonly #log: Logger;
  readonly #svcInf: Informer<Service>;
  readonly #sliceInf: Informer<EndpointSlice>;
  /** service key -> slice key -> slice */
  readonly #slices = new Map<string, Map<string, EndpointSlice>>();
  /** owner ("svc:ns/name" | "pod:ns/name") -> frontend key -> what was applied */
  readonly #applied = new Map<string, Map<string, Applied>>();
  /** frontend key -> owner that holds it (two owners claiming one frontend: the first keeps it) */
  readonly #feOwner = new Map<string, string>();
  readonly #queue = new Set<string>();
  /** Owners that lost a frontend to another owner: recomputed when some owner frees a frontend. */
  readonly #losers = new Set<string>();
  #features: ServiceFeatures;
  #synced = false;
  #stopped = false;
  #scheduled: NodeJS.Immediate | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #backoffMs = 500;
  #lastError: string | undefined;
  #nodeFp = '';
  readonly stats = { syncs: 0, syncUpdated: 0, syncDeleted: 0, upserts: 0, deletes: 0, unchanged: 0, conflicts: 0, failures: 0 };

  constructor(o: ServiceWatcherOptions) {
    this.#o = o;
    this.#log = o.log.child({ subsys: 'k8s-services' });
    this.#features = o.features ?? featuresFromStatus(this.#safeStatus());
    const logger = { debug: (x: object, m: string) => this.#log.debug(x, m), warn: (x: object, m: string) => this.#log.warn(x, m) };
    this.#svcInf = new Informer<Service>(o.client, Resources.Service, { logger }).on({
      onAdd: (s) => this.#enqueue(`svc:${serviceKey(s)}`),
      onUpdate: (s) => this.#enqueue(`svc:${serviceKey(s)}`),
      onDelete: (s) => this.#enqueue(`svc:${serviceKey(s)}`),
    });
    this.#sliceInf = new Informer<EndpointSlice>(o.client, Resources.EndpointSlice, { logger }).on({
      onAdd: (s) => this.#onSlice(s, undefined, false),
      onUpdate: (s, old) => this.#onSlice(s, old, false),
      onDelete: (s) => this.#onSlice(s, undefined, true),
    });
  }

  #safeStatus(): KubeProxyReplacementStatus | undefined {
    try {
      return this.#o.sink.status();
    } catch {
      return undefined;
    }
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Starts the informers; resolves after the first bulk sync into the manager. */
  async start(): Promise<void> {
    this.#svcInf.start();
    this.#sliceInf.start();
    await Promise.all([this.#svcInf.synced, this.#sliceInf.synced, this.#o.pods.synced]);
    if (this.#stopped) return;
    this.#bulkSync();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#scheduled) clearImmediate(this.#scheduled);
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    await Promise.all([this.#svcInf.stop(), this.#sliceInf.stop()]);
  }

  /** A pod of this node was added or changed (forwarded by K8sAgent). */
  onPod(p: Pod): void {
    this.#enqueue(`pod:${serviceKey(p)}`);
  }

  onPodDelete(p: Pod): void {
    this.#enqueue(`pod:${serviceKey(p)}`);
  }

  /** This node's Node object changed: recompute NodePort / HostPort frontends if its addresses did. */
  nodeChanged(): void {
    const fp = JSON.stringify(this.#o.node());
    if (fp === this.#nodeFp) return;
    this.#nodeFp = fp;
    if (!this.#synced) return;
    for (const owner of this.#applied.keys()) this.#enqueue(owner);
    for (const s of this.#svcInf.list()) this.#enqueue(`svc:${serviceKey(s)}`);
    for (const p of this.#o.pods.list()) this.#enqueue(`pod:${serviceKey(p)}`);
  }

  status(): ServiceWatcherStatus {
    const inf = (i: Informer<Service> | Informer<EndpointSlice>) => ({ synced: this.#synced, lists: i.stats.lists, watches: i.stats.watches, errors: i.stats.errors });
    let frontends = 0;
    for (const m of this.#applied.values()) frontends += m.size;
    return {
      synced: this.#synced,
      features: { ...this.#features },
      informers: { services: inf(this.#svcInf), endpointslices: inf(this.#sliceInf) },
      services: [...this.#applied.keys()].filter((k) => k.startsWith('svc:')).length,
      frontends,
      stats: { ...this.stats },
      pending: this.#queue.size,
      ...(this.#lastError !== undefined ? { lastError: this.#lastError } : {}),
    };
  }

  /** What the watcher wants now for one owner (pure: from the informer caches). */
  desired(owner: string): ServiceSpec[] {
    const node = this.#o.node();
    const key = owner.slice(4);
    if (owner.startsWith('svc:')) {
      const svc = this.#svcInf.get(key);
      if (!svc) return [];
      return translateService(svc, [...(this.#slices.get(key)?.values() ?? [])], node, this.#features);
    }
    const pods = this.#o.pods;
    const pod = pods.get ? pods.get(key) : pods.list().find((p) => serviceKey(p) === key);
    return pod ? translateHostPorts(pod, node, this.#features) : [];
  }

  // ---- internals -------------------------------------------------------------------------------------------

  #onSlice(s: EndpointSlice, old: EndpointSlice | undefined, deleted: boolean): void {
    const sliceKey = `${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`;
    const oldSvc = old ? sliceServiceKey(old) : undefined;
    const svc = sliceServiceKey(s);
    if (oldSvc !== undefined && oldSvc !== svc) {
      this.#slices.get(oldSvc)?.delete(sliceKey);
      this.#enqueue(`svc:${oldSvc}`);
    }
    if (svc === undefined) return;
    let m = this.#slices.get(svc);
    if (deleted) {
      m?.delete(sliceKey);
      if (m && m.size === 0) this.#slices.delete(svc);
    } else {
      if (!m) this.#slices.set(svc, (m = new Map()));
      m.set(sliceKey, s);
    }
    this.#enqueue(`svc:${svc}`);
  }

  #enqueue(owner: string): void {
    if (this.#stopped || !this.#synced) return; // before the bulk sync the caches are all that matter
    this.#queue.add(owner);
    if (!this.#scheduled) this.#scheduled = setImmediate(() => this.#drain());
  }

  #bulkSync(): void {
    this.#nodeFp = JSON.stringify(this.#o.node());
    const owners = [
      ...this.#svcInf.list().map((s) => `svc:${serviceKey(s)}`),
      ...this.#o.pods.list().map((p) => `pod:${serviceKey(p)}`),
    ];
    const all: ServiceSpec[] = [];
    this.#applied.clear();
    this.#feOwner.clear();
    this.#losers.clear();
    for (const owner of owners) {
      const m = new Map<string, Applied>();
      for (const spec of this.desired(owner)) {
        const fk = frontendKey(spec['frontend-address']);
        if (this.#feOwner.has(fk)) {
          this.stats.conflicts++;
          this.#losers.add(owner);
          continue;
        }
        this.#feOwner.set(fk, owner);
        m.set(fk, { spec, fp: specFingerprint(spec) });
        all.push(spec);
      }
      if (m.size > 0) this.#applied.set(owner, m);
    }
    try {
      const r = this.#o.sink.syncAll(all, K8S_SERVICE_SOURCE);
      this.stats.syncs++;
      this.stats.syncUpdated += r.updated;
      this.stats.syncDeleted += r.deleted;
      this.#log.info({ services: this.#svcInf.list().length, frontends: all.length, updated: r.updated, deleted: r.deleted, features: this.#features }, 'services synced from Kubernetes');
      this.#synced = true;
      this.#lastError = undefined;
    } catch (e) {
      this.stats.failures++;
      this.#lastError = `syncAll: ${(e as Error).message}`;
      this.#log.warn({ code: (e as { code?: string }).code, err: (e as Error).message, retryMs: this.#backoffMs }, 'bulk service sync failed; retrying');
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        if (!this.#stopped) this.#bulkSync();
      }, this.#backoffMs);
      this.#retryTimer.unref();
      this.#backoffMs = Math.min(30_000, this.#backoffMs * 2);
      return;
    }
    this.#backoffMs = 500;
  }

  /** Applies every queued owner; the ones that fail are retried together after a backoff (the others go on). */
  #drain(): void {
    this.#scheduled = undefined;
    const failed = new Set<string>();
    while (this.#queue.size > 0 && !this.#stopped) {
      const owner = this.#queue.values().next().value as string;
      this.#queue.delete(owner);
      try {
        this.#reconcile(owner);
      } catch (e) {
        this.stats.failures++;
        failed.add(owner);
        this.#lastError = `${owner}: ${(e as Error).message}`;
        this.#log.warn({ owner, code: (e as { code?: string }).code, err: (e as Error).message, retryMs: this.#backoffMs }, 'service update failed; retrying');
      }
    }
    if (failed.size === 0) {
      this.#backoffMs = 500;
      this.#lastError = undefined;
      return;
    }
    if (this.#stopped) return;
    for (const o of failed) this.#queue.add(o);
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#drain();
    }, this.#backoffMs);
    this.#retryTimer.unref();
    this.#backoffMs = Math.min(30_000, this.#backoffMs * 2);
  }

  /** Applies one owner's difference; on a throw, what succeeded so far is recorded (so a retry redoes only the rest). */
  #reconcile(owner: string): void {
    const want = new Map<string, Applied>();
    for (const spec of this.desired(owner)) want.set(frontendKey(spec['frontend-address']), { spec, fp: specFingerprint(spec) });
    let have = this.#applied.get(owner);
    if (!have) this.#applied.set(owner, (have = new Map()));
    const freed: string[] = [];
    for (const [fk, a] of [...have]) {
      if (want.has(fk)) continue;
      this.#o.sink.deleteServiceByFrontend(a.spec['frontend-address']);
      this.stats.deletes++;
      have.delete(fk);
      this.#feOwner.delete(fk);
      freed.push(fk);
      this.#log.debug({ owner, frontend: fk }, 'service frontend deleted');
    }
    for (const [fk, w] of want) {
      const holder = this.#feOwner.get(fk);
      if (holder !== undefined && holder !== owner) {
        this.stats.conflicts++;
        this.#losers.add(owner);
        this.#log.warn({ owner, frontend: fk, heldBy: holder }, 'frontend already used by another service; ignored');
        continue;
      }
      const cur = have.get(fk);
      if (cur && cur.fp === w.fp) {
        this.stats.unchanged++;
        continue;
      }
      this.#o.sink.upsertService(w.spec, K8S_SERVICE_SOURCE);
      this.stats.upserts++;
      have.set(fk, w);
      this.#feOwner.set(fk, owner);
      this.#log.debug({ owner, frontend: fk, backends: w.spec['backend-addresses'].length }, 'service frontend upserted');
    }
    if (have.size === 0) this.#applied.delete(owner);
    // A frontend that this owner released may be wanted by another one that lost the conflict.
    if (freed.length > 0) {
      for (const o of this.#losers) if (o !== owner) this.#queue.add(o);
      this.#losers.clear();
    }
  }
}
