// Hubble's FlowFilter semantics: a filter matches when every field it sets matches (AND); a field with several
// values matches when any of them does (OR). GetFlows keeps a flow when it matches any whitelist filter (or the
// whitelist is empty) and no blacklist filter.
import type { Flow, FlowFilter } from '@cilium-ts/api/hubble';
import { HubbleError } from './hubble-error.js';

export type FlowPredicate = (f: Flow) => boolean;

function ipv4ToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return undefined;
    v = v * 256 + o;
  }
  return v;
}

function ipMatcher(specs: string[], field: string): (ip: string) => boolean {
  const exact = new Set<string>();
  const cidrs: Array<{ net: number; mask: number }> = [];
  for (const s of specs) {
    const slash = s.indexOf('/');
    if (slash < 0) {
      exact.add(s);
      continue;
    }
    const base = ipv4ToInt(s.slice(0, slash));
    const bits = Number(s.slice(slash + 1));
    if (base === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) {
      throw new HubbleError('HUBBLE_BAD_FILTER', `invalid ${field} filter "${s}"`, 'use an IPv4 address (10.0.0.1) or CIDR (10.0.0.0/24)');
    }
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    cidrs.push({ net: (base & mask) >>> 0, mask });
  }
  return (ip) => {
    if (ip === '') return false;
    if (exact.has(ip)) return true;
    if (cidrs.length === 0) return false;
    const v = ipv4ToInt(ip);
    return v !== undefined && cidrs.some((c) => ((v & c.mask) >>> 0) === c.net);
  };
}

/** `[namespace/]pod-prefix`; no slash means the default namespace, a leading slash means any namespace. */
function podMatcher(specs: string[], field: string): (ns: string, pod: string) => boolean {
  const parsed = specs.map((s) => {
    if (s === '') throw new HubbleError('HUBBLE_BAD_FILTER', `empty ${field} filter`, 'use [namespace/]pod-name-prefix');
    const i = s.indexOf('/');
    if (i < 0) return { ns: 'default' as string | undefined, prefix: s };
    const ns = s.slice(0, i);
    return { ns: ns === '' ? undefined : ns, prefix: s.slice(i + 1) };
  });
  return (ns, pod) => {
    if (ns === '' && pod === '') return false;
    return parsed.some((p) => (p.ns === undefined || p.ns === ns) && (p.prefix === '' ? true : pod.startsWith(p.prefix)));
  };
}

function ports(f: Flow): { src: number; dst: number } | undefined {
  const p = f.l4?.protocol;
  switch (p?.case) {
    case 'TCP':
    case 'UDP':
    case 'SCTP':
      return { src: p.value.sourcePort, dst: p.value.destinationPort };
    default:
      return undefined;
  }
}

function protocolNames(f: Flow): string[] {
  const out: string[] = [];
  const p = f.l4?.protocol;
  switch (p?.case) {
    case 'TCP':
      out.push('tcp');
      break;
    case 'UDP':
      out.push('udp');
      break;
    case 'SCTP':
      out.push('sctp');
      break;
    case 'ICMPv4':
      out.push('icmp', 'icmpv4');
      break;
    case 'ICMPv6':
      out.push('icmp', 'icmpv6');
      break;
    default:
      break;
  }
  const r = f.l7?.record;
  if (r?.case === 'http') out.push('http');
  else if (r?.case === 'dns') out.push('dns');
  else if (r?.case === 'kafka') out.push('kafka');
  return out;
}

function parsePorts(specs: string[], field: string): Set<number> {
  const out = new Set<number>();
  for (const s of specs) {
    const n = Number(s);
    if (!/^\d+$/.test(s) || n > 65535) {
      throw new HubbleError('HUBBLE_BAD_FILTER', `invalid ${field} filter "${s}"`, 'a port is a number 0..65535');
    }
    out.add(n);
  }
  return out;
}

/** Compiles one FlowFilter into a predicate. Throws HubbleError HUBBLE_BAD_FILTER on malformed values. */
export function compileFilter(ff: FlowFilter): FlowPredicate {
  const checks: FlowPredicate[] = [];
  if (ff.uuid.length > 0) {
    const set = new Set(ff.uuid);
    checks.push((f) => set.has(f.uuid));
  }
  if (ff.sourceIp.length > 0) {
    const m = ipMatcher(ff.sourceIp, 'source_ip');
    checks.push((f) => m(f.IP?.source ?? ''));
  }
  if (ff.destinationIp.length > 0) {
    const m = ipMatcher(ff.destinationIp, 'destination_ip');
    checks.push((f) => m(f.IP?.destination ?? ''));
  }
  if (ff.sourcePod.length > 0) {
    const m = podMatcher(ff.sourcePod, 'source_pod');
    checks.push((f) => m(f.source?.namespace ?? '', f.source?.podName ?? ''));
  }
  if (ff.destinationPod.length > 0) {
    const m = podMatcher(ff.destinationPod, 'destination_pod');
    checks.push((f) => m(f.destination?.namespace ?? '', f.destination?.podName ?? ''));
  }
  if (ff.sourceLabel.length > 0) {
    const want = ff.sourceLabel;
    checks.push((f) => want.some((l) => labelMatch(f.source?.labels ?? [], l)));
  }
  if (ff.destinationLabel.length > 0) {
    const want = ff.destinationLabel;
    checks.push((f) => want.some((l) => labelMatch(f.destination?.labels ?? [], l)));
  }
  if (ff.sourceIdentity.length > 0) {
    const set = new Set(ff.sourceIdentity);
    checks.push((f) => set.has(f.source?.identity ?? 0));
  }
  if (ff.destinationIdentity.length > 0) {
    const set = new Set(ff.destinationIdentity);
    checks.push((f) => set.has(f.destination?.identity ?? 0));
  }
  if (ff.verdict.length > 0) {
    const set = new Set(ff.verdict);
    checks.push((f) => set.has(f.verdict));
  }
  if (ff.dropReasonDesc.length > 0) {
    const set = new Set(ff.dropReasonDesc);
    checks.push((f) => set.has(f.dropReasonDesc));
  }
  if (ff.trafficDirection.length > 0) {
    const set = new Set(ff.trafficDirection);
    checks.push((f) => set.has(f.trafficDirection));
  }
  if (ff.reply.length > 0) {
    const set = new Set(ff.reply);
    checks.push((f) => f.isReply !== undefined && set.has(f.isReply));
  }
  if (ff.protocol.length > 0) {
    const want = new Set(ff.protocol.map((p) => p.toLowerCase()));
    checks.push((f) => protocolNames(f).some((p) => want.has(p)));
  }
  if (ff.sourcePort.length > 0) {
    const set = parsePorts(ff.sourcePort, 'source_port');
    checks.push((f) => {
      const p = ports(f);
      return p !== undefined && set.has(p.src);
    });
  }
  if (ff.destinationPort.length > 0) {
    const set = parsePorts(ff.destinationPort, 'destination_port');
    checks.push((f) => {
      const p = ports(f);
      return p !== undefined && set.has(p.dst);
    });
  }
  if (ff.eventType.length > 0) {
    const types = ff.eventType;
    checks.push((f) => {
      const et = f.eventType;
      if (!et) return false;
      return types.some((t) => t.type === et.type && (!t.matchSubType || t.subType === et.subType));
    });
  }
  if (ff.nodeName.length > 0) {
    const res = ff.nodeName.map(globToRegExp);
    checks.push((f) => res.some((r) => r.test(f.nodeName)));
  }
  if (ff.ipVersion.length > 0) {
    const set = new Set(ff.ipVersion);
    checks.push((f) => f.IP !== undefined && set.has(f.IP.ipVersion));
  }
  if (ff.interface.length > 0) {
    const ifs = ff.interface;
    checks.push((f) => ifs.some((i) => f.interface !== undefined && (i.index === 0 || i.index === f.interface.index) && (i.name === '' || i.name === f.interface.name)));
  }
  if (ff.tcpFlags.length > 0) {
    const sets = ff.tcpFlags;
    checks.push((f) => {
      const p = f.l4?.protocol;
      if (p?.case !== 'TCP' || !p.value.flags) return false;
      const have = p.value.flags;
      return sets.some((want) =>
        (['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'NS'] as const).every((k) => !want[k] || have[k]),
      );
    });
  }
  return (f) => checks.every((c) => c(f));
}

/** `key=value` or `key` (any value), optionally with a source prefix (`k8s:app=web`); unprefixed matches any source. */
function labelMatch(labels: string[], selector: string): boolean {
  const sel = selector.trim();
  return labels.some((l) => {
    if (l === sel) return true;
    const strip = (s: string): string => (s.includes(':') ? s.slice(s.indexOf(':') + 1) : s);
    const key = (s: string): string => (s.includes('=') ? s.slice(0, s.indexOf('=')) : s);
    const selHasSource = sel.includes(':') && sel.indexOf(':') < (sel.includes('=') ? sel.indexOf('=') : sel.length);
    const lv = selHasSource ? l : strip(l);
    return sel.includes('=') ? lv === sel : key(lv) === sel;
  });
}

function globToRegExp(g: string): RegExp {
  const esc = g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '.');
  return new RegExp(`^${g.includes('/') ? esc : `(?:[^/]*/)?${esc}`}$`);
}

/** Whitelist (any) minus blacklist (any). */
export function compileFilters(whitelist: FlowFilter[], blacklist: FlowFilter[]): FlowPredicate {
  const wl = whitelist.map(compileFilter);
  const bl = blacklist.map(compileFilter);
  return (f) => (wl.length === 0 || wl.some((p) => p(f))) && !bl.some((p) => p(f));
}
