// Cluster-pool IPAM controller (leader only): watches CiliumNodes and Nodes. After both informers synced it
// re-derives every allocation from spec.ipam.podCIDRs (so an operator restart reassigns nothing), then gives
// each CiliumNode without podCIDRs the next free CIDR (merge patch of spec.ipam.podCIDRs). A deleted
// CiliumNode frees its CIDR; a deleted Node deletes its CiliumNode. Exhaustion: status.ipam.operator-status
// .error on the CiliumNode, a Warning Event, and a log line with code and hint.
import { hostname } from 'node:os';
import {
  Informer, isNotFound, Resources, type CiliumNode, type KubeClient, type Node,
} from '@cilium-ts/k8s';
import type { Logger } from 'pino';
import { ClusterPoolAllocator, IpamError } from './cluster-pool.js';

export interface IpamControllerOptions {
  cidrs: string[];
  maskSize: number;
  log: Logger;
  /** Resync (retry failed allocations, re-check exhaustion) period, ms. Default 10 s. */
  resyncMs?: number;
}

export class IpamController {
  readonly allocator: ClusterPoolAllocator;
  readonly #client: KubeClient;
  readonly #log: Logger;
  readonly #cn: Informer<CiliumNode>;
  readonly #nodes: Informer<Node>;
  #ready = false;
  #queue = new Set<string>();
  #draining: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #onStop!: () => void;
  readonly #stoppedP = new Promise<void>((r) => (this.#onStop = r));
  readonly #resyncMs: number;
  /** Nodes already told they are out of CIDRs (avoid an Event per resync). */
  readonly #exhaustedReported = new Set<string>();

  constructor(client: KubeClient, o: IpamControllerOptions) {
    this.#client = client;
    this.#log = o.log;
    this.allocator = new ClusterPoolAllocator(o.cidrs, o.maskSize);
    this.#resyncMs = o.resyncMs ?? 10_000;
    const logger = { debug: (x: object, m: string) => o.log.debug(x, m), warn: (x: object, m: string) => o.log.warn(x, m) };
    this.#cn = new Informer<CiliumNode>(client, Resources.CiliumNode, { logger });
    this.#nodes = new Informer<Node>(client, Resources.Node, { logger });
    this.#cn.on({
      onAdd: (cn) => this.#observe(cn),
      onUpdate: (cn) => this.#observe(cn),
      onDelete: (cn) => this.#forget(cn),
    });
    this.#nodes.on({
      onDelete: (n) => {
        const name = n.metadata?.name;
        if (name) void this.#deleteCiliumNode(name, 'its Node was deleted');
      },
    });
  }

  async start(): Promise<void> {
    this.#cn.start();
    this.#nodes.start();
    // stop() while the apiserver is unreachable must not leave start() waiting forever.
    await Promise.race([Promise.all([this.#cn.synced, this.#nodes.synced]), this.#stoppedP]);
    if (this.#stopped) return;
    // Re-derive first (every existing podCIDR), then allocate: never hand out a CIDR a node already has.
    for (const cn of this.#cn.list()) this.#occupy(cn);
    this.#ready = true;
    for (const cn of this.#cn.list()) this.#enqueueIfNeeded(cn);
    const st = this.allocator.status();
    this.#log.info({ pools: st, nodes: this.allocator.owners().size }, 'cluster-pool IPAM: allocations re-derived from CiliumNodes');
    this.#kick();
    this.#timer = setInterval(() => {
      for (const cn of this.#cn.list()) this.#enqueueIfNeeded(cn);
      this.#kick();
    }, this.#resyncMs);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#onStop();
    if (this.#timer) clearInterval(this.#timer);
    await Promise.all([this.#cn.stop(), this.#nodes.stop()]);
    await this.#draining;
  }

  /** Whether a Node object named like the CiliumNode exists (for the GC of orphaned CiliumNodes). */
  hasNode(name: string): boolean {
    return this.#nodes.get(name) !== undefined;
  }

  ciliumNodes(): CiliumNode[] {
    return this.#cn.list();
  }

  #occupy(cn: CiliumNode): void {
    const name = cn.metadata.name;
    for (const cidr of cn.spec?.ipam?.podCIDRs ?? []) {
      const r = this.allocator.occupy(cidr, name);
      if (r === 'conflict') {
        this.#log.error(
          { code: 'EIPAMCONFLICT', node: name, cidr, owner: this.allocator.ownerOf(cidr) ?? this.allocator.cidrOf(name), hint: 'remove spec.ipam.podCIDRs from one of the CiliumNodes; the operator will allocate a fresh CIDR' },
          'cluster-pool IPAM: CIDR conflict between CiliumNodes',
        );
      } else if (r === 'foreign') {
        this.#log.warn({ code: 'EIPAMFOREIGN', node: name, cidr, hint: 'the CIDR is not a /mask of the configured pools; left as is' }, 'cluster-pool IPAM: CiliumNode has a CIDR outside the pools');
      }
    }
  }

  #observe(cn: CiliumNode): void {
    if (!this.#ready) return;
    this.#occupy(cn);
    this.#enqueueIfNeeded(cn);
    this.#kick();
  }

  #forget(cn: CiliumNode): void {
    const name = cn.metadata.name;
    this.#queue.delete(name);
    this.#exhaustedReported.delete(name);
    const freed = this.allocator.release(name);
    if (freed) this.#log.info({ node: name, cidr: freed }, 'cluster-pool IPAM: CiliumNode deleted, CIDR released');
    if (this.#ready) {
      // Someone may have been waiting for room.
      for (const other of this.#cn.list()) this.#enqueueIfNeeded(other);
      this.#kick();
    }
  }

  #enqueueIfNeeded(cn: CiliumNode): void {
    if (cn.metadata.deletionTimestamp) return;
    if ((cn.spec?.ipam?.podCIDRs ?? []).length === 0) this.#queue.add(cn.metadata.name);
  }

  #kick(): void {
    if (this.#draining || this.#stopped) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined;
      if (this.#queue.size > 0 && !this.#stopped) setTimeout(() => this.#kick(), 200);
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.size > 0 && !this.#stopped) {
      const name = this.#queue.values().next().value as string;
      this.#queue.delete(name);
      const cn = this.#cn.get(name);
      if (!cn || (cn.spec?.ipam?.podCIDRs ?? []).length > 0) continue;
      await this.#allocateFor(cn);
    }
  }

  async #allocateFor(cn: CiliumNode): Promise<void> {
    const name = cn.metadata.name;
    let cidr: string;
    try {
      cidr = this.allocator.allocate(name);
    } catch (e) {
      if (e instanceof IpamError && e.code === 'EIPAMEXHAUSTED') {
        await this.#reportExhausted(cn, e);
        return;
      }
      throw e;
    }
    try {
      await this.#client.patch(Resources.CiliumNode, name, { spec: { ipam: { podCIDRs: [cidr] } } }, { type: 'merge' });
      this.#exhaustedReported.delete(name);
      this.#log.info({ node: name, cidr }, 'cluster-pool IPAM: pod CIDR allocated');
      if (cn.status?.ipam?.['operator-status']?.error) {
        await this.#client
          .patch(Resources.CiliumNode, name, { status: { ipam: { 'operator-status': { error: null } } } }, { type: 'merge', subresource: 'status' })
          .catch(() => undefined);
      }
    } catch (e) {
      if (isNotFound(e)) {
        this.allocator.release(name);
        return;
      }
      // Keep the allocation reserved for this node (allocate() returns it again) and retry on resync.
      this.#log.warn({ node: name, cidr, code: (e as { code?: string }).code, err: (e as Error).message }, 'cluster-pool IPAM: writing podCIDRs failed; will retry');
    }
  }

  async #reportExhausted(cn: CiliumNode, e: IpamError): Promise<void> {
    const name = cn.metadata.name;
    if (this.#exhaustedReported.has(name)) return;
    this.#exhaustedReported.add(name);
    this.#log.error({ node: name, code: e.code, hint: e.hint, pools: this.allocator.status() }, e.message);
    try {
      await this.#client.patch(Resources.CiliumNode, name, { status: { ipam: { 'operator-status': { error: `${e.message} (${e.code}: ${e.hint})` } } } }, { type: 'merge', subresource: 'status' });
    } catch (err) {
      this.#log.warn({ node: name, err: (err as Error).message }, 'could not write CiliumNode status');
    }
    const now = new Date().toISOString();
    try {
      await this.#client.create(Resources.Event, {
        metadata: { name: `${name}.${Date.now().toString(16)}`, namespace: 'default' },
        involvedObject: { apiVersion: 'cilium.io/v2', kind: 'CiliumNode', name, uid: cn.metadata.uid },
        reason: 'PodCIDRPoolExhausted',
        message: `${e.message}. ${e.hint}`,
        type: 'Warning',
        source: { component: 'cilium-operator', host: hostname() },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      } as never);
    } catch (err) {
      this.#log.warn({ node: name, err: (err as Error).message }, 'could not create the exhaustion Event');
    }
  }

  async #deleteCiliumNode(name: string, why: string): Promise<void> {
    try {
      if (await this.#client.delete(Resources.CiliumNode, name)) this.#log.info({ node: name, why }, 'CiliumNode deleted');
    } catch (e) {
      this.#log.warn({ node: name, err: (e as Error).message }, 'deleting CiliumNode failed');
    }
  }

  /** Deletes CiliumNodes with no Node (called by the GC with its grace period). */
  async deleteOrphan(name: string): Promise<void> {
    await this.#deleteCiliumNode(name, 'no Node of that name');
  }
}
