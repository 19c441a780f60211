import { z } from 'zod';
import type { Endpoint, EndpointChangeRequest } from '@cilium-ts/api';
import type { Netlink } from '@cilium-ts/netlink';
import { AgentError } from '../errors.js';
import type { Datapath } from '../datapath/loader.js';
import { reconcileMap } from '../datapath/reconcile-map.js';
import { endpointInfoCodec, endpointKeyCodec, type EndpointInfo, type EndpointKey } from '@cilium-ts/api';
import type { HostScopeIpam } from '../ipam/host-scope-ipam.js';
import type { EndpointRecord } from '../state-store.js';
import type { Logger } from '../log.js';

const MAX_ENDPOINT_ID = 65535;
const mac = z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i, 'a MAC address like 02:00:00:00:00:01');

export const endpointChangeRequestSchema = z.object({
  'container-id': z.string().min(1),
  'container-interface-name': z.string().min(1).max(15).optional(),
  'interface-name': z.string().min(1).max(15),
  'interface-index': z.number().int().positive(),
  mac,
  'host-mac': mac,
  addressing: z.object({ ipv4: z.string().ip({ version: 'v4' }) }),
  'netns-path': z.string().optional(),
  'k8s-pod-name': z.string().optional(),
  'k8s-namespace': z.string().optional(),
  labels: z.array(z.string()).optional(),
});

/** Kubernetes mode: pod labels for new endpoints, and a signal per change (CiliumEndpoint sync). */
export interface EndpointHooks {
  /** Security labels of the pod (`k8s:` prefixed), if known, merged into the endpoint's labels on create. */
  labelsFor?(namespace: string, podName: string): string[] | undefined;
  /** After an endpoint was created, replaced, relabelled ('upsert') or deleted ('delete'). */
  onChange?(event: 'upsert' | 'delete', rec: EndpointRecord): void;
}

export interface EndpointManagerDeps {
  datapath: Datapath;
  netlink: Netlink;
  ipam: HostScopeIpam;
  persist: () => void;
  log: Logger;
  hooks?: EndpointHooks;
}

/** Parses `{id}` of /v1/endpoint/{id}: a number, or `container-id:<cid>`. */
export function parseEndpointRef(ref: string): { id: number } | { containerId: string } {
  const cid = /^container-id:(.+)$/.exec(ref);
  if (cid?.[1]) return { containerId: cid[1] };
  if (/^\d+$/.test(ref)) return { id: Number(ref) };
  throw new AgentError('ENDPOINT_BAD_ID', `invalid endpoint id "${ref}"`, 'use a numeric id or container-id:<id>', 400);
}

/**
 * Owns the local endpoints: allocates endpoint ids, programs the datapath for each (tc programs on the
 * host veth, a row in cilium_lxc, the host route and neighbour), persists them, and restores them on
 * start without touching traffic that already flows.
 */
export class EndpointManager {
  readonly #byId = new Map<number, EndpointRecord>();
  readonly #byIp = new Map<string, EndpointRecord>();

  constructor(private readonly deps: EndpointManagerDeps) {}

  records(): EndpointRecord[] {
    return [...this.#byId.values()].sort((a, b) => a.id - b.id);
  }

  find(ref: string): EndpointRecord | undefined {
    const r = parseEndpointRef(ref);
    if ('id' in r) return this.#byId.get(r.id);
    return this.records().find((e) => e.containerId === r.containerId);
  }

  byIp(ip: string): EndpointRecord | undefined {
    return this.#byIp.get(ip);
  }

  byId(id: number): EndpointRecord | undefined {
    return this.#byId.get(id);
  }

  /** PUT /v1/endpoint/{ref}. Replaces an endpoint of the same container. */
  create(ref: string, body: unknown): EndpointRecord {
    const parsed = endpointChangeRequestSchema.safeParse(body);
    if (!parsed.success) {
      const msg = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      throw new AgentError('ENDPOINT_INVALID', `invalid endpoint request: ${msg}`, 'see EndpointChangeRequest in packages/api/openapi.yaml', 400);
    }
    const req: EndpointChangeRequest = parsed.data as EndpointChangeRequest;
    const r = parseEndpointRef(ref);
    if ('containerId' in r && r.containerId !== req['container-id']) {
      throw new AgentError('ENDPOINT_ID_MISMATCH', `path names container ${r.containerId} but the body names ${req['container-id']}`, 'use the same container id in both', 400);
    }
    const { netlink, datapath, ipam, log } = this.deps;
    const link = netlink.linkByIndex(req['interface-index']);
    if (!link || link.name !== req['interface-name']) {
      throw new AgentError('ENDPOINT_LINK_NOT_FOUND', `interface ${req['interface-name']} (index ${req['interface-index']}) does not exist in the agent's network namespace`, 'create the host-side veth before registering the endpoint', 400);
    }
    const ip = req.addressing.ipv4 as string;
    const owner = ipam.owner(ip);
    const prev = this.records().find((e) => e.containerId === req['container-id'] && e.containerIfname === (req['container-interface-name'] ?? 'eth0'));
    if (owner === undefined) ipam.allocate(ip, req['container-id']);
    const other = this.byIp(ip);
    if (other && other !== prev) {
      throw new AgentError('ENDPOINT_IP_IN_USE', `${ip} already belongs to endpoint ${other.id} (container ${other.containerId})`, 'allocate a fresh address with POST /v1/ipam', 409);
    }
    if (prev) {
      this.#teardown(prev, { releaseIp: prev.ipv4 !== ip });
      this.#remove(prev);
    }
    const rec: EndpointRecord = {
      id: prev?.id ?? this.#allocateId(),
      containerId: req['container-id'],
      containerIfname: req['container-interface-name'] ?? 'eth0',
      ifname: req['interface-name'],
      ifindex: req['interface-index'],
      mac: req.mac.toLowerCase(),
      hostMac: req['host-mac'].toLowerCase(),
      ipv4: ip,
      labels: this.#labels(req),
      createdAt: new Date().toISOString(),
      ...(req['netns-path'] !== undefined ? { netnsPath: req['netns-path'] } : {}),
      ...(req['k8s-pod-name'] !== undefined ? { podName: req['k8s-pod-name'] } : {}),
      ...(req['k8s-namespace'] !== undefined ? { namespace: req['k8s-namespace'] } : {}),
    };
    try {
      this.#program(rec);
    } catch (e) {
      this.#teardown(rec, { releaseIp: owner === undefined });
      if (prev) this.deps.persist();
      throw e;
    }
    this.#add(rec);
    this.deps.persist();
    log.info({ endpoint: rec.id, container: rec.containerId, ip: rec.ipv4, ifname: rec.ifname }, 'endpoint created');
    if (prev && (prev.podName !== rec.podName || prev.namespace !== rec.namespace)) this.#notify('delete', prev);
    this.#notify('upsert', rec);
    return rec;
  }

  /** Replaces the labels of an endpoint (its pod's labels changed). False if unknown or unchanged. */
  setLabels(id: number, labels: string[]): boolean {
    const rec = this.#byId.get(id);
    if (!rec) return false;
    const next = [...new Set(labels)].sort();
    if (JSON.stringify(next) === JSON.stringify([...rec.labels].sort())) return false;
    rec.labels = next;
    this.deps.persist();
    this.deps.log.info({ endpoint: rec.id, labels: next }, 'endpoint labels updated');
    this.#notify('upsert', rec);
    return true;
  }

  #labels(req: EndpointChangeRequest): string[] {
    const own = req.labels ?? [];
    const ns = req['k8s-namespace'];
    const pod = req['k8s-pod-name'];
    const k8s = ns !== undefined && pod !== undefined ? this.deps.hooks?.labelsFor?.(ns, pod) : undefined;
    if (!k8s) return own;
    return [...new Set([...own, ...k8s])].sort();
  }

  #notify(event: 'upsert' | 'delete', rec: EndpointRecord): void {
    try {
      this.deps.hooks?.onChange?.(event, rec);
    } catch (e) {
      this.deps.log.warn({ endpoint: rec.id, err: e instanceof Error ? e.message : String(e) }, 'endpoint change hook failed');
    }
  }

  /** DELETE /v1/endpoint/{ref}. Also releases the endpoint's address. */
  delete(ref: string): EndpointRecord | undefined {
    const rec = this.find(ref);
    if (!rec) return undefined;
    this.#teardown(rec, { releaseIp: true });
    this.#remove(rec);
    this.deps.persist();
    this.deps.log.info({ endpoint: rec.id, container: rec.containerId }, 'endpoint deleted');
    this.#notify('delete', rec);
    return rec;
  }

  /**
   * Start-up: re-adopt persisted endpoints whose host veth still exists (re-attach programs
   * atomically, rewrite their rows), forget the others, and make cilium_lxc hold exactly these.
   */
  restore(records: EndpointRecord[]): { restored: number; stale: number } {
    let stale = 0;
    for (const rec of records) {
      const link = this.deps.netlink.linkByIndex(rec.ifindex);
      if (!link || link.name !== rec.ifname) {
        stale++;
        this.deps.log.warn({ endpoint: rec.id, ifname: rec.ifname }, 'endpoint interface is gone; dropping the endpoint');
        try {
          this.deps.ipam.release(rec.ipv4);
        } catch {
          // not allocated
        }
        continue;
      }
      try {
        this.#program(rec);
        this.#add(rec);
      } catch (e) {
        stale++;
        this.deps.log.error({ endpoint: rec.id, err: e instanceof Error ? e.message : String(e) }, 'cannot restore endpoint');
      }
    }
    const r = reconcileMap<EndpointKey, EndpointInfo>(this.deps.datapath.endpoints, this.records().map((e) => [{ ip: e.ipv4 }, this.#row(e)]), endpointKeyCodec, endpointInfoCodec);
    this.deps.log.info({ restored: this.#byId.size, stale, ...r }, 'endpoints restored');
    return { restored: this.#byId.size, stale };
  }

  toApi(rec: EndpointRecord): Endpoint {
    return {
      id: rec.id,
      spec: { 'label-configuration': { user: rec.labels } },
      status: {
        state: 'ready',
        identity: { id: 0, labels: rec.labels },
        networking: {
          addressing: [{ ipv4: rec.ipv4 }],
          mac: rec.mac,
          'host-mac': rec.hostMac,
          'interface-name': rec.ifname,
          'interface-index': rec.ifindex,
          'container-interface-name': rec.containerIfname,
        },
        'external-identifiers': {
          'container-id': rec.containerId,
          ...(rec.podName !== undefined ? { 'k8s-pod-name': rec.podName, 'pod-name': `${rec.namespace ?? 'default'}/${rec.podName}` } : {}),
          ...(rec.namespace !== undefined ? { 'k8s-namespace': rec.namespace } : {}),
          ...(rec.netnsPath !== undefined ? { 'netns-path': rec.netnsPath } : {}),
        },
        'created-at': rec.createdAt,
      },
    };
  }

  #add(rec: EndpointRecord): void {
    this.#byId.set(rec.id, rec);
    this.#byIp.set(rec.ipv4, rec);
  }

  #remove(rec: EndpointRecord): void {
    this.#byId.delete(rec.id);
    if (this.#byIp.get(rec.ipv4) === rec) this.#byIp.delete(rec.ipv4);
  }

  #row(rec: EndpointRecord): EndpointInfo {
    return { ifindex: rec.ifindex, epId: rec.id, flags: 0, mac: rec.mac, nodeMac: rec.hostMac, secId: 0 };
  }

  #program(rec: EndpointRecord): void {
    const { datapath, netlink } = this.deps;
    datapath.endpoints.update({ ip: rec.ipv4 }, this.#row(rec));
    datapath.attach(rec.ifindex);
    netlink.addNeighbour({ ifindex: rec.ifindex, ip: rec.ipv4, mac: rec.mac, permanent: true, replace: true });
    netlink.addRoute({ dst: `${rec.ipv4}/32`, ifindex: rec.ifindex, scope: 'link', replace: true });
  }

  #teardown(rec: EndpointRecord, o: { releaseIp: boolean }): void {
    const { datapath, netlink, ipam } = this.deps;
    const cur = datapath.endpoints.lookup({ ip: rec.ipv4 });
    if (cur && cur.epId === rec.id) datapath.endpoints.delete({ ip: rec.ipv4 });
    const link = netlink.linkByIndex(rec.ifindex);
    if (link && link.name === rec.ifname) {
      datapath.detach(rec.ifindex);
      try {
        netlink.deleteRoute({ dst: `${rec.ipv4}/32`, ifindex: rec.ifindex, scope: 'link' });
      } catch {
        // already gone with the link
      }
    }
    if (o.releaseIp && ipam.owner(rec.ipv4) !== undefined) ipam.release(rec.ipv4);
  }

  #allocateId(): number {
    for (let id = 1; id <= MAX_ENDPOINT_ID; id++) if (!this.#byId.has(id)) return id;
    throw new AgentError('ENDPOINT_ID_EXHAUSTED', 'no free endpoint id', 'delete unused endpoints', 503);
  }
}
