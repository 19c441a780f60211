// Garbage collection (leader only), every interval:
// - CiliumEndpoints whose Pod (same namespace/name) is gone;
// - CiliumIdentities not referenced by any CiliumEndpoint (status.identity.id) for longer than the identity
//   GC interval (first seen unreferenced -> deleted one full interval later, if still unreferenced);
// - CiliumNodes without a Node of the same name for longer than the interval.
import { Resources, type CiliumEndpoint, type CiliumIdentity, type CiliumNode, type KubeClient, type Pod } from '@cilium-ts/k8s';
import type { Logger } from 'pino';

export interface GcOptions {
  intervalMs: number;
  log: Logger;
  /** Node lookup (the IPAM controller's cache). */
  hasNode?: (name: string) => boolean;
}

export interface GcResult {
  endpoints: number;
  identities: number;
  nodes: number;
}

export class GarbageCollector {
  readonly #client: KubeClient;
  readonly #o: GcOptions;
  readonly #unusedSince = new Map<string, number>();
  readonly #orphanSince = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;

  constructor(client: KubeClient, o: GcOptions) {
    this.#client = client;
    this.#o = o;
  }

  start(): void {
    const tick = (): void => {
      this.#running = this.runOnce().catch((e: unknown) =>
        this.#o.log.warn({ code: (e as { code?: string }).code, err: (e as Error).message }, 'GC run failed; next interval retries'),
      );
    };
    tick();
    this.#timer = setInterval(tick, this.#o.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
  }

  async runOnce(now = Date.now()): Promise<GcResult> {
    const res: GcResult = { endpoints: 0, identities: 0, nodes: 0 };
    const [ceps, pods] = await Promise.all([
      this.#client.list<CiliumEndpoint>(Resources.CiliumEndpoint),
      this.#client.list<Pod>(Resources.Pod),
    ]);
    const podKeys = new Set(pods.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`));
    const live: CiliumEndpoint[] = [];
    for (const cep of ceps.items) {
      const key = `${cep.metadata.namespace}/${cep.metadata.name}`;
      if (podKeys.has(key)) {
        live.push(cep);
        continue;
      }
      if (await this.#client.delete(Resources.CiliumEndpoint, cep.metadata.name, cep.metadata.namespace, cep.metadata.uid ? { uid: cep.metadata.uid } : {}).catch(() => false)) {
        res.endpoints++;
        this.#o.log.info({ endpoint: key }, 'GC: CiliumEndpoint of a deleted pod removed');
      }
    }

    const used = new Set(live.map((c) => String(c.status?.identity?.id ?? '')).filter(Boolean));
    const ids = await this.#client.list<CiliumIdentity>(Resources.CiliumIdentity);
    const seen = new Set<string>();
    for (const id of ids.items) {
      const name = id.metadata.name;
      seen.add(name);
      if (used.has(name)) {
        this.#unusedSince.delete(name);
        continue;
      }
      const since = this.#unusedSince.get(name);
      if (since === undefined) {
        this.#unusedSince.set(name, now);
        continue;
      }
      if (now - since >= this.#o.intervalMs) {
        if (await this.#client.delete(Resources.CiliumIdentity, name, undefined, id.metadata.uid ? { uid: id.metadata.uid } : {}).catch(() => false)) {
          res.identities++;
          this.#o.log.info({ identity: name, labels: id['security-labels'] }, 'GC: unused CiliumIdentity removed');
        }
        this.#unusedSince.delete(name);
      }
    }
    for (const k of [...this.#unusedSince.keys()]) if (!seen.has(k)) this.#unusedSince.delete(k);

    if (this.#o.hasNode) {
      const cns = await this.#client.list<CiliumNode>(Resources.CiliumNode);
      const names = new Set<string>();
      for (const cn of cns.items) {
        const name = cn.metadata.name;
        names.add(name);
        if (this.#o.hasNode(name)) {
          this.#orphanSince.delete(name);
          continue;
        }
        const since = this.#orphanSince.get(name);
        if (since === undefined) this.#orphanSince.set(name, now);
        else if (now - since >= this.#o.intervalMs) {
          if (await this.#client.delete(Resources.CiliumNode, name).catch(() => false)) {
            res.nodes++;
            this.#o.log.info({ node: name }, 'GC: CiliumNode without a Node removed');
          }
          this.#orphanSince.delete(name);
        }
      }
      for (const k of [...this.#orphanSince.keys()]) if (!names.has(k)) this.#orphanSince.delete(k);
    }
    return res;
  }
}
