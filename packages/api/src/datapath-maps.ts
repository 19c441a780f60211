// TypeScript twins of the layouts in bpf/lib/common.h. Sizes are checked against the object's BTF when
// the maps are opened (TypedMap construction), so a drift between C and TS fails loudly at start.

export interface Codec<T> {
  readonly size: number;
  encode(v: T, buf: Buffer, off: number): void;
  decode(buf: Buffer, off: number): T;
}

export const MAP_ENDPOINTS = 'cilium_lxc';
export const MAP_CT4 = 'cilium_ct4_glob';
export const MAP_EVENTS = 'cilium_events';
export const MAP_METRICS = 'cilium_metrics';
export const MAP_TUNNEL = 'cilium_tunnel_map';

/** Dotted IPv4 <-> 4 bytes in network order. */
export function writeIpv4(ip: string, buf: Buffer, off: number): void {
  const p = ip.split('.');
  for (let i = 0; i < 4; i++) buf[off + i] = Number(p[i]);
}
export function readIpv4(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}
export function writeMac(mac: string, buf: Buffer, off: number): void {
  const p = mac.split(':');
  if (p.length !== 6) throw new Error(`invalid MAC "${mac}"`);
  for (let i = 0; i < 6; i++) buf[off + i] = parseInt(p[i] ?? '', 16);
}
export function readMac(buf: Buffer, off: number): string {
  const out: string[] = [];
  for (let i = 0; i < 6; i++) out.push((buf[off + i] ?? 0).toString(16).padStart(2, '0'));
  return out.join(':');
}

export interface EndpointKey {
  ip: string;
}
export const endpointKeyCodec: Codec<EndpointKey> = {
  size: 4,
  encode: (v, b, o) => writeIpv4(v.ip, b, o),
  decode: (b, o) => ({ ip: readIpv4(b, o) }),
};

export interface EndpointInfo {
  ifindex: number;
  epId: number;
  flags: number;
  mac: string;
  nodeMac: string;
  secId: number;
}
export const endpointInfoCodec: Codec<EndpointInfo> = {
  size: 24,
  encode(v, b, o) {
    b.writeUInt32LE(v.ifindex, o);
    b.writeUInt16LE(v.epId, o + 4);
    b.writeUInt16LE(v.flags, o + 6);
    writeMac(v.mac, b, o + 8);
    writeMac(v.nodeMac, b, o + 14);
    b.writeUInt32LE(v.secId, o + 20);
  },
  decode: (b, o) => ({
    ifindex: b.readUInt32LE(o),
    epId: b.readUInt16LE(o + 4),
    flags: b.readUInt16LE(o + 6),
    mac: readMac(b, o + 8),
    nodeMac: readMac(b, o + 14),
    secId: b.readUInt32LE(o + 20),
  }),
};

export interface CtKey4 {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: number;
  flags: number;
}
export const ctKey4Codec: Codec<CtKey4> = {
  size: 16,
  encode(v, b, o) {
    writeIpv4(v.saddr, b, o);
    writeIpv4(v.daddr, b, o + 4);
    b.writeUInt16BE(v.sport, o + 8);
    b.writeUInt16BE(v.dport, o + 10);
    b[o + 12] = v.proto;
    b[o + 13] = v.flags;
    b.writeUInt16LE(0, o + 14);
  },
  decode: (b, o) => ({
    saddr: readIpv4(b, o),
    daddr: readIpv4(b, o + 4),
    sport: b.readUInt16BE(o + 8),
    dport: b.readUInt16BE(o + 10),
    proto: b[o + 12] ?? 0,
    flags: b[o + 13] ?? 0,
  }),
};

export const CT_STATES = ['none', 'syn-sent', 'syn-recv', 'established', 'fin-wait', 'close'] as const;
export type CtState = (typeof CT_STATES)[number];

export interface CtEntry {
  expires: bigint;
  packets: bigint;
  bytes: bigint;
  created: number;
  lastReport: number;
  txFlagsSeen: number;
  rxFlagsSeen: number;
  state: number;
  flags: number;
  srcEp: number;
  dstEp: number;
  /** CT_KEY_F_SERVICE entries: the backend the connection is pinned to (0 otherwise). */
  backendId?: number;
  /** != 0: replies are reverse-NATed to this service's frontend. */
  revNatIndex?: number;
}
export const ctEntryCodec: Codec<CtEntry> = {
  size: 48,
  encode(v, b, o) {
    b.writeBigUInt64LE(v.expires, o);
    b.writeBigUInt64LE(v.packets, o + 8);
    b.writeBigUInt64LE(v.bytes, o + 16);
    b.writeUInt32LE(v.created, o + 24);
    b.writeUInt32LE(v.lastReport, o + 28);
    b[o + 32] = v.txFlagsSeen;
    b[o + 33] = v.rxFlagsSeen;
    b[o + 34] = v.state;
    b[o + 35] = v.flags;
    b.writeUInt16LE(v.srcEp, o + 36);
    b.writeUInt16LE(v.dstEp, o + 38);
    b.writeUInt32LE(v.backendId ?? 0, o + 40);
    b.writeUInt16LE(v.revNatIndex ?? 0, o + 44);
    b.writeUInt16LE(0, o + 46);
  },
  decode: (b, o) => ({
    expires: b.readBigUInt64LE(o),
    packets: b.readBigUInt64LE(o + 8),
    bytes: b.readBigUInt64LE(o + 16),
    created: b.readUInt32LE(o + 24),
    lastReport: b.readUInt32LE(o + 28),
    txFlagsSeen: b[o + 32] ?? 0,
    rxFlagsSeen: b[o + 33] ?? 0,
    state: b[o + 34] ?? 0,
    flags: b[o + 35] ?? 0,
    srcEp: b.readUInt16LE(o + 36),
    dstEp: b.readUInt16LE(o + 38),
    backendId: b.readUInt32LE(o + 40),
    revNatIndex: b.readUInt16LE(o + 44),
  }),
};

export interface MetricsKey {
  reason: number;
  dir: number;
}
export const metricsKeyCodec: Codec<MetricsKey> = {
  size: 4,
  encode(v, b, o) {
    b[o] = v.reason;
    b[o + 1] = v.dir;
    b.writeUInt16LE(0, o + 2);
  },
  decode: (b, o) => ({ reason: b[o] ?? 0, dir: b[o + 1] ?? 0 }),
};

export interface MetricsValue {
  packets: bigint;
  bytes: bigint;
}
export const metricsValueCodec: Codec<MetricsValue> = {
  size: 16,
  encode(v, b, o) {
    b.writeBigUInt64LE(v.packets, o);
    b.writeBigUInt64LE(v.bytes, o + 8);
  },
  decode: (b, o) => ({ packets: b.readBigUInt64LE(o), bytes: b.readBigUInt64LE(o + 8) }),
};

/** cilium_tunnel_map key (LPM trie): a remote node's pod CIDR. */
export interface TunnelKey {
  /** CIDR base address (dotted IPv4). */
  ip: string;
  prefixLen: number;
}
export const tunnelKeyCodec: Codec<TunnelKey> = {
  size: 8,
  encode(v, b, o) {
    b.writeUInt32LE(v.prefixLen, o);
    writeIpv4(v.ip, b, o + 4);
  },
  decode: (b, o) => ({ prefixLen: b.readUInt32LE(o), ip: readIpv4(b, o + 4) }),
};

/** cilium_tunnel_map value: the underlay IPv4 of the node that owns the CIDR. */
export interface TunnelValue {
  remoteIp: string;
  flags: number;
}
export const tunnelValueCodec: Codec<TunnelValue> = {
  size: 8,
  encode(v, b, o) {
    writeIpv4(v.remoteIp, b, o);
    b.writeUInt32LE(v.flags, o + 4);
  },
  decode: (b, o) => ({ remoteIp: readIpv4(b, o), flags: b.readUInt32LE(o + 4) }),
};

export const PROTO_NAMES: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP' };
