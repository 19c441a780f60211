// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does: try to acquire
// or renew every retryPeriod (2 s); a lease held by someone else is taken over only once it has not been
// renewed for leaseDuration (15 s) as observed locally; writes use optimistic concurrency (resourceVersion),
// so two candidates never both win; a leader that cannot renew within renewDeadline (10 s) steps down;
// stop() releases the lease (holderIdentity cleared) so a standby takes over at once.
import { hostname } from 'node:os';
import { isConflict, isNotFound, type KubeClient } from './client.js';
import { Resources } from './resources.js';
import type { Lease } from './types.js';

export interface LeaderElectorOptions {
  namespace: string;
  name: string;
  identity?: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  onNewLeader?: (identity: string) => void;
  logger?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  readonly identity: string;
  readonly #o: LeaderElectorOptions;
  readonly #client: KubeClient;
  #leading = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #lastRenew = 0;
  /** What we last saw of the lease held by someone else, and when (local clock). */
  #observed: { holder: string; renewTime: string; at: number } | undefined;
  #lastLeader = '';
  #loop: Promise<void> | undefined;

  constructor(client: KubeClient, o: LeaderElectorOptions) {
    this.#client = client;
    this.#o = o;
    this.identity = o.identity ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  get #leaseSeconds(): number {
    return this.#o.leaseDurationSeconds ?? 15;
  }

  start(): void {
    if (this.#loop) return;
    this.#loop = this.#tick();
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    let ok = false;
    try {
      ok = await this.#tryAcquireOrRenew();
    } catch (e) {
      this.#o.logger?.warn({ code: (e as { code?: string }).code, err: (e as Error).message, lease: this.#o.name }, 'leader election: lease update failed');
    }
    if (this.#stopped) return;
    const now = Date.now();
    if (ok) {
      this.#lastRenew = now;
      if (!this.#leading) {
        this.#leading = true;
        this.#o.logger?.info({ identity: this.identity, lease: `${this.#o.namespace}/${this.#o.name}` }, 'leader election: became leader');
        this.#o.onStartedLeading();
      }
    } else if (this.#leading && now - this.#lastRenew > (this.#o.renewDeadlineMs ?? 10_000)) {
      this.#leading = false;
      this.#o.logger?.warn({ identity: this.identity }, 'leader election: could not renew the lease in time; stepping down');
      this.#o.onStoppedLeading();
    }
    this.#timer = setTimeout(() => {
      this.#loop = this.#tick();
    }, this.#o.retryPeriodMs ?? 2000);
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const spec = {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.#leaseSeconds,
      renewTime: microTime(now),
    };
    const lease = await this.#client.tryGet<Lease>(Resources.Lease, this.#o.name, this.#o.namespace);
    if (!lease) {
      try {
        await this.#client.create<Lease>(Resources.Lease, {
          metadata: { name: this.#o.name, namespace: this.#o.namespace },
          spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
        });
        this.#noteLeader(this.identity);
        return true;
      } catch (e) {
        if (isConflict(e)) return false;
        throw e;
      }
    }
    const holder = lease.spec?.holderIdentity ?? '';
    const renewTime = String(lease.spec?.renewTime ?? '');
    if (holder && holder !== this.identity) {
      this.#noteLeader(holder);
      if (!this.#observed || this.#observed.holder !== holder || this.#observed.renewTime !== renewTime) {
        this.#observed = { holder, renewTime, at: Date.now() };
      }
      const duration = (lease.spec?.leaseDurationSeconds ?? this.#leaseSeconds) * 1000;
      if (Date.now() - this.#observed.at < duration) return false; // held and alive
    }
    const transitions = (lease.spec?.leaseTransitions ?? 0) + (holder === this.identity ? 0 : 1);
    const updated = {
      ...lease,
      spec: {
        ...lease.spec,
        ...spec,
        acquireTime: holder === this.identity ? (lease.spec?.acquireTime ?? microTime(now)) : microTime(now),
        leaseTransitions: transitions,
      },
    };
    try {
      await this.#client.update<Lease>(Resources.Lease, updated);
      this.#noteLeader(this.identity);
      return true;
    } catch (e) {
      if (isConflict(e) || isNotFound(e)) return false;
      throw e;
    }
  }

  #noteLeader(id: string): void {
    if (id !== this.#lastLeader) {
      this.#lastLeader = id;
      this.#o.onNewLeader?.(id);
    }
  }

  /** Stops campaigning; a leader releases the lease (holderIdentity cleared) and gets onStoppedLeading. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#loop?.catch(() => undefined);
    if (!this.#leading) return;
    this.#leading = false;
    try {
      const lease = await this.#client.tryGet<Lease>(Resources.Lease, this.#o.name, this.#o.namespace);
      if (lease && lease.spec?.holderIdentity === this.identity) {
        await this.#client.update<Lease>(Resources.Lease, {
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(new Date()) },
        });
      }
    } catch (e) {
      this.#o.logger?.warn({ err: (e as Error).message }, 'leader election: releasing the lease failed');
    }
    this.#o.onStoppedLeading();
  }
}
