// LB-IPAM allocation, as a pure function of the cluster state: the CiliumLoadBalancerIPPools and the Services
// in, which IP each Service holds and what each pool's status says out. The controller (lb-ipam.ts) feeds it
// the informers' caches and writes back the difference, so an operator restart re-derives the same answer
// from the Services' status.loadBalancer.ingress (no churn), and a deleted Service or pool simply stops
// holding IPs. Semantics follow Cilium's operator/pkg/lbipam:
// - a pool is blocks[] (legacy cidrs[] too) of {cidr} or {start[, stop]}; allowFirstLastIPs: No reserves the
//   first and last IP of CIDR blocks larger than /31 (/127), counted as used as Cilium does;
// - pools whose blocks overlap: the newer pool (creationTimestamp, then name) is cilium.io/PoolConflict=True
//   and allocates nothing; a disabled pool allocates nothing new; both keep the IPs Services already hold;
// - a Service is ours when type LoadBalancer and spec.loadBalancerClass is unset (default LB IPAM) or one of
//   Cilium's classes (io.cilium/l2-announcer, io.cilium/bgp-control-plane);
// - serviceSelector matches the Service's labels plus io.kubernetes.service.namespace/.name;
// - requested IPs: spec.loadBalancerIP and the lbipam.cilium.io/ips annotation (legacy io.cilium/lb-ipam-ips);
// - lbipam.cilium.io/sharing-key: Services with the same key, compatible ports (no port+protocol twice),
//   either no externalTrafficPolicy Local or the same selector, and the same namespace unless
//   lbipam.cilium.io/sharing-cross-namespace allows it, share one IP;
// - the outcome per Service is the cilium.io/IPAMRequestSatisfied condition: True/satisfied, or False with
//   no_pool, out_of_ips, pool_selector_mismatch, already_allocated, already_allocated_incompatible_service.
import { isIPv4, isIPv6 } from 'node:net';
import type { CiliumLoadBalancerIPPoolIPBlock, CiliumLoadBalancerIPPoolSpec, LabelSelector } from '@cilium-ts/k8s';

export const SERVICE_NAMESPACE_LABEL = 'io.kubernetes.service.namespace';
export const SERVICE_NAME_LABEL = 'io.kubernetes.service.name';
export const LB_CLASS_L2 = 'io.cilium/l2-announcer';
export const LB_CLASS_BGP = 'io.cilium/bgp-control-plane';
export const ANNOTATION_IPS = ['lbipam.cilium.io/ips', 'io.cilium/lb-ipam-ips'] as const;
export const ANNOTATION_SHARING_KEY = ['lbipam.cilium.io/sharing-key', 'io.cilium/lb-ipam-sharing-key'] as const;
export const ANNOTATION_SHARING_CROSS_NS = ['lbipam.cilium.io/sharing-cross-namespace', 'io.cilium/lb-ipam-sharing-cross-namespace'] as const;

/** A bad pool block or IP string (the pool gets a cilium.io/InvalidSpec condition; nothing throws). */
export class LbIpamError extends Error {
  readonly code: string;
  readonly hint: string;
  constructor(code: 'ELBIPAMBLOCK' | 'ELBIPAMIP', message: string, hint: string) {
    super(message);
    this.name = 'LbIpamError';
    this.code = code;
    this.hint = hint;
  }
}

// ---- addresses ----------------------------------------------------------------------------------------------
export interface Ip {
  v6: boolean;
  n: bigint;
}

export function parseIp(s: string): Ip | undefined {
  const t = s.trim();
  if (isIPv4(t)) return { v6: false, n: t.split('.').reduce((a, o) => (a << 8n) | BigInt(Number(o)), 0n) };
  if (!isIPv6(t) || t.includes('%')) return undefined;
  let text = t;
  let tail: bigint[] = [];
  const m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (m) {
    const v4 = parseIp(m[2]!)!.n;
    tail = [v4 >> 16n, v4 & 0xffffn];
    text = m[1]!.endsWith('::') ? m[1]! : m[1]!.slice(0, -1);
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const groups = (x: string): bigint[] => (x ? x.split(':').map((g) => BigInt(`0x${g}`)) : []);
  const h = groups(head);
  const r = [...groups(rest ?? ''), ...tail];
  const words = rest === undefined ? [...h, ...tail] : [...h, ...Array<bigint>(8 - h.length - r.length).fill(0n), ...r];
  return { v6: true, n: words.reduce((a, w) => (a << 16n) | w, 0n) };
}

export function formatIp(ip: Ip): string {
  if (!ip.v6) return [24n, 16n, 8n, 0n].map((s) => String((ip.n >> s) & 0xffn)).join('.');
  const words = Array.from({ length: 8 }, (_, i) => Number((ip.n >> BigInt((7 - i) * 16)) & 0xffffn));
  // RFC 5952: the longest run (>= 2) of zero words becomes "::".
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  return best < 0 ? hex(words) : `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

const ipKey = (ip: Ip): string => `${ip.v6 ? 6 : 4}:${ip.n}`;

/** A block as an inclusive range; `fromCidr` for the allowFirstLastIPs rule. Throws LbIpamError. */
export function blockRange(b: CiliumLoadBalancerIPPoolIPBlock): { from: Ip; to: Ip; fromCidr: boolean } {
  if (b.cidr) {
    const m = /^([^/]+)\/(\d{1,3})$/.exec(b.cidr.trim());
    const base = m ? parseIp(m[1]!) : undefined;
    const bits = base?.v6 ? 128 : 32;
    const len = m ? Number(m[2]) : -1;
    if (!base || len < 0 || len > bits) throw new LbIpamError('ELBIPAMBLOCK', `invalid cidr "${b.cidr}"`, 'write an IPv4 or IPv6 prefix like 10.0.10.0/24');
    const host = (1n << BigInt(bits - len)) - 1n;
    const from = base.n & ~host & ((1n << BigInt(bits)) - 1n);
    return { from: { v6: base.v6, n: from }, to: { v6: base.v6, n: from | host }, fromCidr: true };
  }
  if (!b.start) throw new LbIpamError('ELBIPAMBLOCK', 'a block with neither cidr nor start', 'set cidr, or start (and stop)');
  const from = parseIp(b.start);
  if (!from) throw new LbIpamError('ELBIPAMBLOCK', `invalid start IP "${b.start}"`, 'write an IPv4 or IPv6 address');
  const to = b.stop ? parseIp(b.stop) : from;
  if (!to) throw new LbIpamError('ELBIPAMBLOCK', `invalid stop IP "${b.stop ?? ''}"`, 'write an IPv4 or IPv6 address');
  if (to.v6 !== from.v6) throw new LbIpamError('ELBIPAMBLOCK', `start ${b.start} and stop ${b.stop ?? ''} are of different families`, 'use two IPv4 or two IPv6 addresses');
  if (to.n < from.n) throw new LbIpamError('ELBIPAMBLOCK', `start ${b.start} is after stop ${b.stop ?? ''}`, 'swap start and stop');
  return { from, to, fromCidr: false };
}

// ---- label selectors ----------------------------------------------------------------------------------------
/** metav1.LabelSelector semantics (matchLabels AND matchExpressions; an empty selector matches all). */
export function selectorMatches(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const v = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(v!)) return false;
        break;
      case 'NotIn':
        if (has && (e.values ?? []).includes(v!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false; // unknown operator: Cilium's LabelSelectorAsSelector fails, the pool selects nothing
    }
  }
  return true;
}

// ---- inputs and outputs -------------------------------------------------------------------------------------
export interface LbPoolInput {
  name: string;
  creationTimestamp?: string | undefined;
  spec: CiliumLoadBalancerIPPoolSpec;
}

export interface LbServiceInput {
  namespace: string;
  name: string;
  creationTimestamp?: string | undefined;
  labels?: Record<string, string> | undefined;
  annotations?: Record<string, string> | undefined;
  type?: string | undefined;
  loadBalancerClass?: string | undefined;
  loadBalancerIP?: string | undefined;
  ipFamilies?: string[] | undefined;
  ipFamilyPolicy?: string | undefined;
  ports?: { port: number; protocol?: string | undefined }[] | undefined;
  externalTrafficPolicy?: string | undefined;
  selector?: Record<string, string> | undefined;
  /** status.loadBalancer.ingress[].ip as it is now. */
  ingressIPs?: string[] | undefined;
}

export interface LbIpamOptions {
  ipv4?: boolean;
  ipv6?: boolean;
  /** Services without a loadBalancerClass are ours (Cilium's default-lb-service-ipam=lbipam). Default true. */
  defaultIpam?: boolean;
  /** loadBalancerClass values that are ours. Default: io.cilium/l2-announcer, io.cilium/bgp-control-plane. */
  lbClasses?: string[];
}

export interface PoolPlan {
  name: string;
  /** The pool's blocks as "from - to" ranges (empty when invalid). */
  ranges: string[];
  total: bigint;
  used: bigint;
  available: bigint;
  /** Set when the pool overlaps an older pool (or itself): cilium.io/PoolConflict=True with this message. */
  conflict?: string;
  /** Set when a block cannot be parsed: the pool is not used (cilium.io/InvalidSpec=True). */
  invalid?: string;
}

export interface ServicePlan {
  key: string;
  /** False: not a LoadBalancer Service, or another loadBalancerClass; the controller leaves it alone. */
  responsible: boolean;
  /** The IPs the Service holds, in status order. */
  ips: string[];
  /** Pool of each IP (same order). */
  pools: string[];
  satisfied: boolean;
  reason: string;
  message: string;
}

export interface LbIpamPlan {
  pools: Map<string, PoolPlan>;
  services: Map<string, ServicePlan>;
}

interface Range {
  pool: string;
  v6: boolean;
  from: bigint;
  to: bigint;
  /** allowFirstLastIPs: No reservations. */
  reserved: Set<bigint>;
  /** Allocated IP -> holders (service keys). */
  used: Map<bigint, SvcState[]>;
  /** Disabled (spec.disabled) or conflicting: no new allocations. */
  closed: boolean;
  /** No free IP below this one (nothing is freed during a plan, so the lowest free IP only grows). */
  cursor: bigint;
  selector: LabelSelector | undefined;
}

interface SvcState {
  key: string;
  input: LbServiceInput;
  labels: Record<string, string>;
  requested: Ip[];
  v4: boolean;
  v6: boolean;
  sharingKey: string;
  crossNs: string[];
  held: { ip: Ip; range: Range }[];
  reason: string;
  message: string;
}

const byAge = (a: { creationTimestamp?: string | undefined; name: string }, b: { creationTimestamp?: string | undefined; name: string }): number => {
  const ta = a.creationTimestamp ? Date.parse(a.creationTimestamp) : 0;
  const tb = b.creationTimestamp ? Date.parse(b.creationTimestamp) : 0;
  return ta !== tb ? ta - tb : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
};

function annotation(s: LbServiceInput, keys: readonly string[]): string {
  for (const k of keys) {
    const v = s.annotations?.[k];
    if (v) return v;
  }
  return '';
}

/** Which families a Service asks for (Cilium's serviceIPFamilyRequest). */
function families(s: LbServiceInput, o: Required<Pick<LbIpamOptions, 'ipv4' | 'ipv6'>>): { v4: boolean; v6: boolean } {
  const fams = s.ipFamilies ?? [];
  const first = (): { v4: boolean; v6: boolean } =>
    fams.length > 0 ? { v4: fams[0] === 'IPv4', v6: fams[0] !== 'IPv4' } : o.ipv4 ? { v4: true, v6: false } : { v4: false, v6: o.ipv6 };
  switch (s.ipFamilyPolicy) {
    case 'PreferDualStack':
      return fams.length > 0 ? { v4: fams.includes('IPv4') && o.ipv4, v6: fams.includes('IPv6') && o.ipv6 } : { v4: o.ipv4, v6: o.ipv6 };
    case 'RequireDualStack':
      return { v4: o.ipv4, v6: o.ipv6 };
    default:
      return first();
  }
}

/** Whether two Services may share one IP (Cilium's ServiceView.isCompatible): [ok, reason]. */
function compatible(a: SvcState, b: SvcState): [boolean, string] {
  if (a.sharingKey !== b.sharingKey) return [false, 'different sharing key'];
  if (a.input.namespace !== b.input.namespace) {
    const allows = (x: SvcState, ns: string): boolean => x.crossNs.includes(ns) || x.crossNs.includes('*');
    if (!allows(a, b.input.namespace) || !allows(b, a.input.namespace)) return [false, 'different namespace without sharing-cross-namespace'];
  }
  if (a.input.externalTrafficPolicy === 'Local' || b.input.externalTrafficPolicy === 'Local') {
    const sa = JSON.stringify(Object.entries(a.input.selector ?? {}).sort());
    const sb = JSON.stringify(Object.entries(b.input.selector ?? {}).sort());
    if (sa !== sb) return [false, 'externalTrafficPolicy Local with a different selector'];
  }
  for (const p of a.input.ports ?? []) {
    for (const q of b.input.ports ?? []) {
      if (p.port === q.port && (p.protocol ?? 'TCP') === (q.protocol ?? 'TCP')) return [false, `same port and protocol (${p.port}/${p.protocol ?? 'TCP'})`];
    }
  }
  return [true, ''];
}

const rangeText = (r: { v6: boolean; from: bigint; to: bigint }): string => `${formatIp({ v6: r.v6, n: r.from })} - ${formatIp({ v6: r.v6, n: r.to })}`;

/** The whole allocation, deterministic for a given input (order: pools and Services by age, then name). */
export function planLbIpam(poolsIn: LbPoolInput[], servicesIn: LbServiceInput[], opts: LbIpamOptions = {}): LbIpamPlan {
  const o = { ipv4: opts.ipv4 ?? true, ipv6: opts.ipv6 ?? false };
  const classes = opts.lbClasses ?? [LB_CLASS_L2, LB_CLASS_BGP];
  const defaultIpam = opts.defaultIpam ?? true;

  // Pools -> ranges; invalid pools and conflicts.
  const pools = new Map<string, PoolPlan>();
  const ranges: Range[] = [];
  const accepted: Range[] = [];
  for (const p of [...poolsIn].sort(byAge)) {
    const plan: PoolPlan = { name: p.name, ranges: [], total: 0n, used: 0n, available: 0n };
    pools.set(p.name, plan);
    const own: Range[] = [];
    try {
      for (const b of [...(p.spec.blocks ?? []), ...(p.spec.cidrs ?? [])]) {
        const { from, to, fromCidr } = blockRange(b);
        const reserved = new Set<bigint>();
        if (fromCidr && p.spec.allowFirstLastIPs === 'No' && to.n - from.n >= 2n) {
          reserved.add(from.n);
          reserved.add(to.n);
        }
        own.push({ pool: p.name, v6: from.v6, from: from.n, to: to.n, reserved, used: new Map(), closed: p.spec.disabled === true, cursor: from.n, selector: p.spec.serviceSelector });
      }
    } catch (e) {
      const err = e as LbIpamError;
      plan.invalid = `${err.message} (${err.code}: ${err.hint})`;
      continue;
    }
    plan.ranges = own.map(rangeText);
    const overlaps = (a: Range, b: Range): boolean => a.v6 === b.v6 && a.from <= b.to && b.from <= a.to;
    outer: for (let i = 0; i < own.length; i++) {
      for (let j = i + 1; j < own.length; j++) {
        if (overlaps(own[i]!, own[j]!)) {
          plan.conflict = `Pool conflicts since range '${rangeText(own[i]!)}' overlaps range '${rangeText(own[j]!)}' from IP Pool '${p.name}'`;
          break outer;
        }
      }
      for (const other of accepted) {
        if (overlaps(own[i]!, other)) {
          plan.conflict = `Pool conflicts since range '${rangeText(own[i]!)}' overlaps range '${rangeText(other)}' from IP Pool '${other.pool}'`;
          break outer;
        }
      }
    }
    for (const r of own) {
      if (plan.conflict) r.closed = true;
      else accepted.push(r);
      ranges.push(r);
    }
  }
  // Non-conflicting ranges first, so an IP in two pools is attributed to the older, usable one.
  const lookupOrder = [...accepted, ...ranges.filter((r) => !accepted.includes(r))];
  const rangeOf = (ip: Ip, open: boolean, sv?: SvcState): Range | undefined =>
    lookupOrder.find((r) => r.v6 === ip.v6 && r.from <= ip.n && ip.n <= r.to && (!open || !r.closed) && (!sv || selectorMatches(r.selector, sv.labels)));

  // Services.
  const services = new Map<string, ServicePlan>();
  const states: SvcState[] = [];
  const bySharingKey = new Map<string, { ip: Ip; range: Range }[]>();
  for (const s of [...servicesIn].sort((a, b) => byAge({ ...a, name: `${a.namespace}/${a.name}` }, { ...b, name: `${b.namespace}/${b.name}` }))) {
    const key = `${s.namespace}/${s.name}`;
    const responsible = s.type === 'LoadBalancer' && (s.loadBalancerClass === undefined || s.loadBalancerClass === '' ? defaultIpam : classes.includes(s.loadBalancerClass));
    if (!responsible) {
      services.set(key, { key, responsible: false, ips: [], pools: [], satisfied: false, reason: '', message: '' });
      continue;
    }
    const requested: Ip[] = [];
    for (const str of [s.loadBalancerIP ?? '', ...annotation(s, ANNOTATION_IPS).split(',')]) {
      if (!str.trim()) continue;
      const ip = parseIp(str);
      if (ip && !requested.some((r) => ipKey(r) === ipKey(ip))) requested.push(ip);
    }
    const fam = families(s, o);
    const crossNs = annotation(s, ANNOTATION_SHARING_CROSS_NS);
    states.push({
      key, input: s, requested, ...fam,
      labels: { ...(s.labels ?? {}), [SERVICE_NAMESPACE_LABEL]: s.namespace, [SERVICE_NAME_LABEL]: s.name },
      sharingKey: annotation(s, ANNOTATION_SHARING_KEY),
      crossNs: crossNs ? crossNs.split(',').map((x) => x.trim()) : [],
      held: [], reason: '', message: '',
    });
  }

  const take = (sv: SvcState, ip: Ip, r: Range): void => {
    const holders = r.used.get(ip.n) ?? [];
    holders.push(sv);
    r.used.set(ip.n, holders);
    sv.held.push({ ip, range: r });
    if (sv.sharingKey && holders.length === 1) {
      const list = bySharingKey.get(sv.sharingKey) ?? [];
      list.push({ ip, range: r });
      bySharingKey.set(sv.sharingKey, list);
    }
  };
  const canJoin = (sv: SvcState, holders: SvcState[]): [boolean, string] => {
    if (!sv.sharingKey) return [false, ''];
    for (const h of holders) {
      const [ok, why] = compatible(h, sv);
      if (!ok) return [false, why];
    }
    return [true, ''];
  };

  // 1. Keep what Services already hold (status.loadBalancer.ingress) when still valid: in a pool (even a
  //    disabled one) whose selector matches, requested (if IPs are requested) or of a requested family, and
  //    not held by an older Service it cannot share with.
  for (const sv of states) {
    for (const str of sv.input.ingressIPs ?? []) {
      const ip = parseIp(str);
      if (!ip || sv.held.some((h) => ipKey(h.ip) === ipKey(ip))) continue;
      if (sv.requested.length > 0 ? !sv.requested.some((r) => ipKey(r) === ipKey(ip)) : !(ip.v6 ? sv.v6 : sv.v4) || sv.held.some((h) => h.ip.v6 === ip.v6)) continue;
      const r = rangeOf(ip, false, sv);
      if (!r || r.reserved.has(ip.n)) continue;
      const holders = r.used.get(ip.n);
      if (holders && !canJoin(sv, holders)[0]) continue;
      take(sv, ip, r);
    }
  }

  // 2. Satisfy the rest, oldest Service first.
  const fail = (sv: SvcState, reason: string, message: string): void => {
    sv.reason = reason;
    sv.message = message;
  };
  for (const sv of states) {
    if (sv.requested.length > 0) {
      for (const ip of sv.requested) {
        if (sv.held.some((h) => ipKey(h.ip) === ipKey(ip))) continue;
        const r = rangeOf(ip, true, sv);
        if (!r) {
          if (rangeOf(ip, true)) fail(sv, 'pool_selector_mismatch', `The pool with the CIDR containing '${formatIp(ip)}', doesn't select this service`);
          else fail(sv, 'no_pool', `No pool exists with a CIDR containing '${formatIp(ip)}'`);
          continue;
        }
        const holders = r.used.get(ip.n);
        if (holders || r.reserved.has(ip.n)) {
          if (!sv.sharingKey || !holders) {
            fail(sv, 'already_allocated', `The IP '${formatIp(ip)}' is already allocated to another service`);
            continue;
          }
          const [ok, why] = canJoin(sv, holders);
          if (!ok) {
            fail(sv, 'already_allocated_incompatible_service', `The IP '${formatIp(ip)}' is already allocated to an incompatible service. Reason: ${why}`);
            continue;
          }
        }
        take(sv, ip, r);
      }
      continue;
    }
    for (const v6 of [false, true]) {
      if (!(v6 ? sv.v6 : sv.v4) || sv.held.some((h) => h.ip.v6 === v6)) continue;
      // Share an IP of the same sharing key when compatible with all its holders.
      const shared = (bySharingKey.get(sv.sharingKey) ?? []).find((c) => c.ip.v6 === v6 && canJoin(sv, c.range.used.get(c.ip.n) ?? [])[0]);
      if (sv.sharingKey && shared) {
        take(sv, shared.ip, shared.range);
        continue;
      }
      let full = false;
      let got = false;
      for (const r of accepted) {
        if (r.closed || r.v6 !== v6 || !selectorMatches(r.selector, sv.labels)) continue;
        let n = r.cursor;
        while (n <= r.to && (r.used.has(n) || r.reserved.has(n))) n++;
        r.cursor = n;
        if (n > r.to) {
          full = true;
          continue;
        }
        take(sv, { v6, n }, r);
        got = true;
        break;
      }
      if (!got) {
        if (full) fail(sv, 'out_of_ips', 'All enabled CiliumLoadBalancerIPPools that match this service ran out of allocatable IPs');
        else fail(sv, 'no_pool', 'There are no enabled CiliumLoadBalancerIPPools that match this service');
      }
    }
  }

  for (const sv of states) {
    const satisfied = sv.requested.length > 0
      ? sv.requested.every((r) => sv.held.some((h) => ipKey(h.ip) === ipKey(r)))
      : (!sv.v4 || sv.held.some((h) => !h.ip.v6)) && (!sv.v6 || sv.held.some((h) => h.ip.v6));
    services.set(sv.key, {
      key: sv.key,
      responsible: true,
      ips: sv.held.map((h) => formatIp(h.ip)),
      pools: sv.held.map((h) => h.range.pool),
      satisfied,
      reason: satisfied ? 'satisfied' : sv.reason || 'no_pool',
      message: satisfied ? '' : sv.message || 'There are no enabled CiliumLoadBalancerIPPools that match this service',
    });
  }

  // Counts per pool: total = block sizes; used = allocated IPs plus reserved first/last (as Cilium counts).
  for (const r of ranges) {
    const plan = pools.get(r.pool)!;
    const size = r.to - r.from + 1n;
    const used = BigInt(r.used.size + r.reserved.size);
    plan.total += size;
    plan.used += used;
    plan.available += size - used;
  }
  return { pools, services };
}
