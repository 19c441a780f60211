// LB-IPAM controller (leader only): watches CiliumLoadBalancerIPPools and, while at least one exists,
// Services. After every change (coalesced) it computes the whole allocation with planLbIpam from the
// Services' current status.loadBalancer.ingress (so a new leader moves nothing) and writes the difference:
// - Service status (JSON patch of /status on the status subresource): loadBalancer.ingress and the
//   cilium.io/IPAMRequestSatisfied condition; a Warning Event when a Service cannot be satisfied (reason and
//   message as the condition), a Normal Event when it gets its IPs;
// - pool status: cilium.io/PoolConflict, cilium.io/IPsTotal, cilium.io/IPsAvailable, cilium.io/IPsUsed (the
//   counts in the message, status Unknown, reason noreason, as Cilium writes them), cilium.io/InvalidSpec for
//   blocks that cannot be parsed.
// Dormant while no pool exists (as Cilium): the Service informer starts with the first pool (allocation waits
// for its first list) and stops after the last pool goes (Services holding its IPs lose them first, as with
// any pool removal); Services are not touched meanwhile. A Service that stops being ours (type changed,
// foreign loadBalancerClass) loses the ingress and condition we wrote. Failed writes are retried a second
// later; a full pass also runs every resyncMs.
import { hostname } from 'node:os';
import {
  Informer, isNotFound, Resources, type CiliumLoadBalancerIPPool, type KubeClient, type MetaCondition, type ObjectMeta,
} from '@cilium-ts/k8s';
import type { Logger } from 'pino';
import { planLbIpam, type LbIpamOptions, type LbIpamPlan, type LbServiceInput, type ServicePlan } from './lb-ipam-allocator.js';

export const SVC_CONDITION = 'cilium.io/IPAMRequestSatisfied';
export const POOL_CONDITIONS = {
  conflict: 'cilium.io/PoolConflict',
  total: 'cilium.io/IPsTotal',
  available: 'cilium.io/IPsAvailable',
  used: 'cilium.io/IPsUsed',
  invalid: 'cilium.io/InvalidSpec',
} as const;
const FIELD_MANAGER = 'cilium-operator-lb-ipam';

/** The wire shape of a core/v1 Service as far as LB-IPAM reads it (times are strings). */
interface ServiceWire {
  metadata: ObjectMeta;
  spec?: {
    type?: string;
    loadBalancerClass?: string;
    loadBalancerIP?: string;
    ipFamilies?: string[];
    ipFamilyPolicy?: string;
    ports?: { port: number; protocol?: string }[];
    externalTrafficPolicy?: string;
    selector?: Record<string, string>;
  };
  status?: {
    loadBalancer?: { ingress?: { ip?: string; hostname?: string; ipMode?: string; ports?: unknown[] }[] };
    conditions?: MetaCondition[];
    [k: string]: unknown;
  };
}

export interface LbIpamControllerOptions extends LbIpamOptions {
  log: Logger;
  /** Full resync period (retries failed writes), ms. Default 30 s. */
  resyncMs?: number;
}

export interface LbIpamStatus {
  active: boolean;
  pools: { name: string; total: string; used: string; available: string; conflict?: string; invalid?: string }[];
  services: { key: string; ips: string[]; satisfied: boolean; reason: string }[];
}

/** Our condition with lastTransitionTime kept when the status did not change. */
function condition(prev: MetaCondition[] | undefined, type: string, status: MetaCondition['status'], reason: string, message: string, generation: number | undefined): MetaCondition {
  const old = prev?.find((c) => c.type === type);
  return {
    type,
    status,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    lastTransitionTime: old && old.status === status ? old.lastTransitionTime : new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    reason,
    message,
  };
}

const sameCondition = (a: MetaCondition | undefined, b: MetaCondition | undefined): boolean =>
  a?.status === b?.status && a?.reason === b?.reason && a?.message === b?.message && a?.observedGeneration === b?.observedGeneration;

export class LbIpamController {
  readonly #client: KubeClient;
  readonly #log: Logger;
  readonly #opts: LbIpamControllerOptions;
  /** Watches Services while at least one pool exists. */
  #svcs: Informer<ServiceWire> | undefined;
  readonly #pools: Informer<CiliumLoadBalancerIPPool>;
  #ready = false;
  #stopped = false;
  #dirty = false;
  /** A write failed: reconcile again in a second. */
  #retry = false;
  #running: Promise<void> | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #timer: NodeJS.Timeout | undefined;
  #onStop!: () => void;
  readonly #stoppedP = new Promise<void>((r) => (this.#onStop = r));
  /** Status we wrote, used until the informer shows a newer version of the object than the one we patched. */
  readonly #writtenSvc = new Map<string, { baseRv: string | undefined; status: ServiceWire['status'] }>();
  readonly #writtenPool = new Map<string, { baseRv: string | undefined; conditions: MetaCondition[] }>();
  #last: LbIpamPlan | undefined;

  constructor(client: KubeClient, o: LbIpamControllerOptions) {
    this.#client = client;
    this.#log = o.log;
    this.#opts = o;
    this.#pools = new Informer<CiliumLoadBalancerIPPool>(client, Resources.CiliumLoadBalancerIPPool, { logger: this.#informerLog() });
    this.#pools.on(this.#handlers);
  }

  readonly #handlers = { onAdd: () => this.#schedule(), onUpdate: () => this.#schedule(), onDelete: () => this.#schedule() };

  #informerLog(): { debug(x: object, m: string): void; warn(x: object, m: string): void } {
    return { debug: (x, m) => this.#log.debug(x, m), warn: (x, m) => this.#log.warn(x, m) };
  }

  async start(): Promise<void> {
    this.#pools.start();
    await Promise.race([this.#pools.synced, this.#stoppedP]);
    if (this.#stopped) return;
    this.#ready = true;
    this.#log.info({ pools: this.#pools.list().length }, 'LB-IPAM: pools synced');
    this.#schedule(0);
    this.#timer = setInterval(() => this.#schedule(0), this.#opts.resyncMs ?? 30_000);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#onStop();
    if (this.#timer) clearInterval(this.#timer);
    if (this.#debounce) clearTimeout(this.#debounce);
    await Promise.all([this.#svcs?.stop(), this.#pools.stop()]);
    await this.#running;
  }

  status(): LbIpamStatus {
    const p = this.#last;
    return {
      active: this.#pools.list().length > 0,
      pools: [...(p?.pools.values() ?? [])].map((x) => ({
        name: x.name, total: String(x.total), used: String(x.used), available: String(x.available),
        ...(x.conflict ? { conflict: x.conflict } : {}), ...(x.invalid ? { invalid: x.invalid } : {}),
      })),
      services: [...(p?.services.values() ?? [])].filter((s) => s.responsible).map((s) => ({ key: s.key, ips: s.ips, satisfied: s.satisfied, reason: s.reason })),
    };
  }

  /** Reconciles after delayMs (changes within it coalesce into one pass). */
  #schedule(delayMs = 20): void {
    if (!this.#ready || this.#stopped || this.#debounce) return;
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      this.#dirty = true;
      this.#kick();
    }, delayMs);
  }

  #kick(): void {
    if (this.#running || this.#stopped) return;
    this.#running = (async () => {
      while (this.#dirty && !this.#stopped) {
        this.#dirty = false;
        try {
          await this.#reconcile();
        } catch (e) {
          this.#retry = true;
          this.#log.error({ code: (e as { code?: string }).code ?? 'ELBIPAM', err: (e as Error).message }, 'LB-IPAM: reconcile failed; retrying');
        }
      }
    })().finally(() => {
      this.#running = undefined;
      if (this.#dirty && !this.#stopped) this.#kick();
      else if (this.#retry) this.#schedule(1000);
      this.#retry = false;
    });
  }

  #svcStatus(s: ServiceWire): ServiceWire['status'] {
    const key = `${s.metadata.namespace ?? ''}/${s.metadata.name}`;
    const w = this.#writtenSvc.get(key);
    if (w && w.baseRv === s.metadata.resourceVersion) return w.status;
    this.#writtenSvc.delete(key);
    return s.status;
  }

  #poolConditions(p: CiliumLoadBalancerIPPool): MetaCondition[] {
    const w = this.#writtenPool.get(p.metadata.name);
    if (w && w.baseRv === p.metadata.resourceVersion) return w.conditions;
    this.#writtenPool.delete(p.metadata.name);
    return p.status?.conditions ?? [];
  }

  #input(s: ServiceWire): LbServiceInput {
    return {
      namespace: s.metadata.namespace ?? '',
      name: s.metadata.name,
      creationTimestamp: s.metadata.creationTimestamp,
      labels: s.metadata.labels,
      annotations: s.metadata.annotations,
      type: s.spec?.type,
      loadBalancerClass: s.spec?.loadBalancerClass,
      loadBalancerIP: s.spec?.loadBalancerIP,
      ipFamilies: s.spec?.ipFamilies,
      ipFamilyPolicy: s.spec?.ipFamilyPolicy,
      ports: s.spec?.ports,
      externalTrafficPolicy: s.spec?.externalTrafficPolicy,
      selector: s.spec?.selector,
      ingressIPs: (this.#svcStatus(s)?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : [])),
    };
  }

  async #reconcile(): Promise<void> {
    const pools = this.#pools.list();
    if (pools.length === 0) {
      this.#last = undefined;
      if (!this.#svcs) return; // dormant
      // The last pool went: Services with our condition lose their LB-IPAM IPs (no_pool), as when any
      // pool goes; then dormant (Services no longer watched, and not touched until a pool exists again).
      const svcs = this.#svcs.list();
      const plan = planLbIpam([], svcs.map((s) => this.#input(s)), this.#opts);
      const retryBefore = this.#retry;
      this.#retry = false;
      for (const s of svcs) {
        if (this.#stopped) return;
        const sp = plan.services.get(`${s.metadata.namespace ?? ''}/${s.metadata.name}`);
        if (sp && (this.#svcStatus(s)?.conditions ?? []).some((c) => c.type === SVC_CONDITION)) await this.#syncService(s, sp);
      }
      if (this.#retry) return; // a write failed: try again before going dormant
      this.#retry = retryBefore;
      const informer = this.#svcs;
      this.#svcs = undefined;
      this.#writtenSvc.clear();
      await informer.stop();
      this.#log.info('LB-IPAM: no pool left; dormant (Services no longer watched)');
      return;
    }
    if (!this.#svcs) {
      const svcs = new Informer<ServiceWire>(this.#client, Resources.Service, { logger: this.#informerLog() });
      svcs.on(this.#handlers);
      this.#svcs = svcs;
      svcs.start();
      // Allocate only with every Service's current status known: never hand out an IP a Service holds.
      await Promise.race([svcs.synced, this.#stoppedP]);
      if (this.#stopped) return;
      this.#log.info({ pools: pools.length, services: svcs.list().length }, 'LB-IPAM: a pool exists; Services synced');
    }
    const svcs = this.#svcs.list();
    const plan = planLbIpam(pools.map((p) => ({ name: p.metadata.name, creationTimestamp: p.metadata.creationTimestamp, spec: p.spec ?? {} })), svcs.map((s) => this.#input(s)), this.#opts);
    this.#last = plan;
    for (const s of svcs) {
      if (this.#stopped) return;
      const sp = plan.services.get(`${s.metadata.namespace ?? ''}/${s.metadata.name}`);
      if (sp) await this.#syncService(s, sp);
    }
    for (const p of pools) {
      if (this.#stopped) return;
      await this.#syncPool(p, plan);
    }
  }

  async #syncService(s: ServiceWire, sp: ServicePlan): Promise<void> {
    if (s.metadata.deletionTimestamp) return;
    const cur = this.#svcStatus(s) ?? {};
    const curIngress = cur.loadBalancer?.ingress ?? [];
    const curCond = cur.conditions?.find((c) => c.type === SVC_CONDITION);
    let next: NonNullable<ServiceWire['status']>;
    if (!sp.responsible) {
      if (!curCond) return; // never ours
      next = { ...cur, loadBalancer: {}, conditions: (cur.conditions ?? []).filter((c) => c.type !== SVC_CONDITION) };
    } else {
      const ingress = sp.ips.map((ip) => curIngress.find((i) => i.ip === ip) ?? { ip });
      const cond = condition(cur.conditions, SVC_CONDITION, sp.satisfied ? 'True' : 'False', sp.reason, sp.message, s.metadata.generation);
      const sameIngress = ingress.length === curIngress.length && ingress.every((i, n) => i.ip === curIngress[n]?.ip);
      if (sameIngress && sameCondition(cond, curCond)) return;
      next = { ...cur, loadBalancer: { ...cur.loadBalancer, ingress }, conditions: [...(cur.conditions ?? []).filter((c) => c.type !== SVC_CONDITION), cond] };
      if (ingress.length === 0) next.loadBalancer = {};
    }
    const key = `${s.metadata.namespace ?? ''}/${s.metadata.name}`;
    try {
      const out = await this.#client.patch<ServiceWire>(Resources.Service, s.metadata.name, [{ op: 'replace', path: '/status', value: next }], {
        namespace: s.metadata.namespace ?? '', type: 'json', subresource: 'status', fieldManager: FIELD_MANAGER,
      });
      this.#writtenSvc.set(key, { baseRv: s.metadata.resourceVersion, status: out.status ?? next });
    } catch (e) {
      if (isNotFound(e)) return;
      this.#log.warn({ service: key, code: (e as { code?: string }).code, err: (e as Error).message }, 'LB-IPAM: writing Service status failed; will retry');
      this.#retry = true;
      return;
    }
    if (!sp.responsible) {
      this.#log.info({ service: key }, 'LB-IPAM: Service no longer ours; ingress and condition removed');
      return;
    }
    const was = curCond ? `${curCond.status}/${curCond.reason}` : '';
    const ips = sp.ips.join(',');
    if (sp.satisfied) {
      this.#log.info({ service: key, ips: sp.ips, pools: sp.pools }, 'LB-IPAM: Service IPs assigned');
      if (was !== 'True/satisfied' || ips !== curIngress.map((i) => i.ip).join(',')) await this.#event(s, 'Normal', 'LBIPAMAllocated', `Assigned ${ips} from CiliumLoadBalancerIPPool ${[...new Set(sp.pools)].join(',')}`);
    } else {
      this.#log.warn({ service: key, reason: sp.reason, message: sp.message, ips: sp.ips }, 'LB-IPAM: Service request not satisfied');
      if (was !== `False/${sp.reason}`) await this.#event(s, 'Warning', 'LBIPAMRequestNotSatisfied', `${sp.reason}: ${sp.message}`);
    }
  }

  async #syncPool(p: CiliumLoadBalancerIPPool, plan: LbIpamPlan): Promise<void> {
    const pp = plan.pools.get(p.metadata.name);
    if (!pp || p.metadata.deletionTimestamp) return;
    const cur = this.#poolConditions(p);
    const gen = p.metadata.generation;
    const want: MetaCondition[] = [
      condition(cur, POOL_CONDITIONS.conflict, pp.conflict ? 'True' : 'False', pp.conflict ? 'cidr_overlap' : 'resolved', pp.conflict ?? '', gen),
      condition(cur, POOL_CONDITIONS.total, 'Unknown', 'noreason', String(pp.total), gen),
      condition(cur, POOL_CONDITIONS.available, 'Unknown', 'noreason', String(pp.available), gen),
      condition(cur, POOL_CONDITIONS.used, 'Unknown', 'noreason', String(pp.used), gen),
    ];
    if (pp.invalid) want.push(condition(cur, POOL_CONDITIONS.invalid, 'True', 'invalid_block', pp.invalid, gen));
    const ours = new Set<string>(Object.values(POOL_CONDITIONS));
    const others = cur.filter((c) => !ours.has(c.type));
    const next = [...others, ...want];
    if (next.length === cur.length && next.every((c) => sameCondition(c, cur.find((x) => x.type === c.type)))) return;
    try {
      const out = await this.#client.patch<CiliumLoadBalancerIPPool>(Resources.CiliumLoadBalancerIPPool, p.metadata.name, [{ op: 'replace', path: '/status', value: { ...p.status, conditions: next } }], {
        type: 'json', subresource: 'status', fieldManager: FIELD_MANAGER,
      });
      this.#writtenPool.set(p.metadata.name, { baseRv: p.metadata.resourceVersion, conditions: out.status?.conditions ?? next });
      if (pp.conflict && !cur.some((c) => c.type === POOL_CONDITIONS.conflict && c.status === 'True')) this.#log.warn({ pool: p.metadata.name, code: 'ELBIPAMPOOLCONFLICT', hint: 'make the pools\' blocks disjoint', message: pp.conflict }, 'LB-IPAM: pool conflicts');
      if (pp.invalid && !cur.some((c) => c.type === POOL_CONDITIONS.invalid)) this.#log.warn({ pool: p.metadata.name, message: pp.invalid }, 'LB-IPAM: pool has an invalid block');
    } catch (e) {
      if (isNotFound(e)) return;
      this.#log.warn({ pool: p.metadata.name, code: (e as { code?: string }).code, err: (e as Error).message }, 'LB-IPAM: writing pool status failed; will retry');
      this.#retry = true;
    }
  }

  async #event(s: ServiceWire, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date().toISOString();
    try {
      await this.#client.create(Resources.Event, {
        metadata: { name: `${s.metadata.name}.${Date.now().toString(16)}${Math.random().toString(16).slice(2, 6)}`, namespace: s.metadata.namespace ?? 'default' },
        involvedObject: { apiVersion: 'v1', kind: 'Service', name: s.metadata.name, namespace: s.metadata.namespace, uid: s.metadata.uid, resourceVersion: s.metadata.resourceVersion },
        reason,
        message,
        type,
        source: { component: 'cilium-operator-lb-ipam', host: hostname() },
        reportingComponent: 'cilium-operator-lb-ipam',
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      } as never);
    } catch (err) {
      this.#log.debug({ service: `${s.metadata.namespace ?? ''}/${s.metadata.name}`, err: (err as Error).message }, 'LB-IPAM: could not create an Event');
    }
  }
}
