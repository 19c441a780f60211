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

// ---- load balancing (Services): twins of the "load balancing" section of bpf/lib/common.h ----

export const MAP_LB4_SERVICES = 'cilium_lb4_services_v2';
export const MAP_LB4_BACKENDS = 'cilium_lb4_backends_v3';
export const MAP_LB4_REVERSE_NAT = 'cilium_lb4_reverse_nat';
export const MAP_LB4_AFFINITY = 'cilium_lb4_affinity';
export const MAP_LB_AFFINITY_MATCH = 'cilium_lb_affinity_match';
export const MAP_LB4_MAGLEV = 'cilium_lb4_maglev';
export const MAP_LB4_SK_RNAT = 'cilium_lb4_sk_rnat';
export const MAP_SNAT4_EXT = 'cilium_snat_v4_ext';

export const LB_SERVICE_MAP_SIZE = 262144;
export const LB_BACKEND_MAP_SIZE = 262144;
export const LB_REVNAT_MAP_SIZE = 65536;
export const LB_AFFINITY_MAP_SIZE = 65536;
export const LB_AFFINITY_MATCH_MAP_SIZE = 262144;
export const LB_MAGLEV_MAP_SIZE = 65536;
export const LB_SK_RNAT_MAP_SIZE = 262144;
export const SNAT_MAP_SIZE = 131072;
/** NodePort SNAT source ports (bpf_host rodata NODEPORT_PORT_MIN_NAT_CFG..MAX_NAT_CFG defaults, as Cilium). */
export const NODEPORT_PORT_MIN_NAT = 32768;
export const NODEPORT_PORT_MAX_NAT = 65535;
export const LB_MAGLEV_LUT_SIZE = 16381;

export const LB_LOOKUP_SCOPE_EXT = 0;
export const LB_LOOKUP_SCOPE_INT = 1;

/** lb4_service.flags */
export const SVC_F_CLUSTERIP = 0x01;
export const SVC_F_NODEPORT = 0x02;
export const SVC_F_EXTERNALIP = 0x04;
export const SVC_F_LOADBALANCER = 0x08;
export const SVC_F_HOSTPORT = 0x10;
export const SVC_F_AFFINITY = 0x20;
export const SVC_F_EXT_LOCAL = 0x40;
export const SVC_F_INT_LOCAL = 0x80;
/** lb4_service.flags2 */
export const SVC_F2_MAGLEV = 0x01;
export const SVC_F2_DSR = 0x02;

export const BE_STATE_ACTIVE = 0;
export const BE_STATE_TERMINATING = 1;
export const BE_STATE_QUARANTINED = 2;
export const BE_F_LOCAL = 1;

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** struct lb4_key: a frontend row (backendSlot 0: master row; 1..count: a backend slot). */
export interface Lb4Key {
  address: string;
  /** host order (stored in network order) */
  dport: number;
  backendSlot: number;
  proto: number;
  scope: number;
}
export const lb4KeyCodec: Codec<Lb4Key> = {
  size: 12,
  encode(v, b, o) {
    writeIpv4(v.address, b, o);
    b.writeUInt16BE(v.dport, o + 4);
    b.writeUInt16LE(v.backendSlot, o + 6);
    b[o + 8] = v.proto;
    b[o + 9] = v.scope;
    b.writeUInt16LE(0, o + 10);
  },
  decode: (b, o) => ({
    address: readIpv4(b, o),
    dport: b.readUInt16BE(o + 4),
    backendSlot: b.readUInt16LE(o + 6),
    proto: b[o + 8] ?? 0,
    scope: b[o + 9] ?? 0,
  }),
};

/** struct lb4_service */
export interface Lb4Service {
  /** slot rows: the backend; master row: 0 */
  backendId: number;
  /** master row: seconds of ClientIP affinity (0: none) */
  affinityTimeout: number;
  /** master row: number of backend slots */
  count: number;
  revNatIndex: number;
  flags: number;
  flags2: number;
}
export const lb4ServiceCodec: Codec<Lb4Service> = {
  size: 16,
  encode(v, b, o) {
    b.writeUInt32LE(v.backendId, o);
    b.writeUInt32LE(v.affinityTimeout, o + 4);
    b.writeUInt16LE(v.count, o + 8);
    b.writeUInt16LE(v.revNatIndex, o + 10);
    b[o + 12] = v.flags;
    b[o + 13] = v.flags2;
    b.writeUInt16LE(0, o + 14);
  },
  decode: (b, o) => ({
    backendId: b.readUInt32LE(o),
    affinityTimeout: b.readUInt32LE(o + 4),
    count: b.readUInt16LE(o + 8),
    revNatIndex: b.readUInt16LE(o + 10),
    flags: b[o + 12] ?? 0,
    flags2: b[o + 13] ?? 0,
  }),
};

/** __u32 keys (backend id) and __u16 keys (rev_nat_index) */
export const u32KeyCodec: Codec<number> = {
  size: 4,
  encode: (v, b, o) => void b.writeUInt32LE(v, o),
  decode: (b, o) => b.readUInt32LE(o),
};
export const u16KeyCodec: Codec<number> = {
  size: 2,
  encode: (v, b, o) => void b.writeUInt16LE(v, o),
  decode: (b, o) => b.readUInt16LE(o),
};

/** struct lb4_backend */
export interface Lb4Backend {
  address: string;
  /** host order (stored in network order) */
  port: number;
  proto: number;
  /** BE_STATE_* */
  state: number;
  /** BE_F_* */
  flags: number;
}
export const lb4BackendCodec: Codec<Lb4Backend> = {
  size: 12,
  encode(v, b, o) {
    writeIpv4(v.address, b, o);
    b.writeUInt16BE(v.port, o + 4);
    b[o + 6] = v.proto;
    b[o + 7] = v.state;
    b[o + 8] = v.flags;
    b[o + 9] = 0;
    b[o + 10] = 0;
    b[o + 11] = 0;
  },
  decode: (b, o) => ({
    address: readIpv4(b, o),
    port: b.readUInt16BE(o + 4),
    proto: b[o + 6] ?? 0,
    state: b[o + 7] ?? 0,
    flags: b[o + 8] ?? 0,
  }),
};

/** struct lb4_reverse_nat */
export interface Lb4ReverseNat {
  address: string;
  /** host order (stored in network order) */
  port: number;
}
export const lb4ReverseNatCodec: Codec<Lb4ReverseNat> = {
  size: 8,
  encode(v, b, o) {
    writeIpv4(v.address, b, o);
    b.writeUInt16BE(v.port, o + 4);
    b.writeUInt16LE(0, o + 6);
  },
  decode: (b, o) => ({ address: readIpv4(b, o), port: b.readUInt16BE(o + 4) }),
};

/** struct lb4_affinity_key */
export interface Lb4AffinityKey {
  /** client IPv4 (network order, zero-extended, read as a little-endian u64) or a netns cookie */
  clientId: bigint;
  revNatIndex: number;
  /** 1: clientId is a netns cookie */
  netnsCookie: number;
}
export const lb4AffinityKeyCodec: Codec<Lb4AffinityKey> = {
  size: 16,
  encode(v, b, o) {
    b.writeBigUInt64LE(v.clientId, o);
    b.writeUInt16LE(v.revNatIndex, o + 8);
    b[o + 10] = v.netnsCookie;
    b.fill(0, o + 11, o + 16);
  },
  decode: (b, o) => ({ clientId: b.readBigUInt64LE(o), revNatIndex: b.readUInt16LE(o + 8), netnsCookie: b[o + 10] ?? 0 }),
};
/** An IPv4 client as the datapath stores it in lb4_affinity_key.client_id (network-order bytes, zero-extended). */
export function affinityClientIdOf(ip: string): bigint {
  const b = Buffer.alloc(8);
  writeIpv4(ip, b, 0);
  return b.readBigUInt64LE(0);
}

/** struct lb_affinity_val */
export interface LbAffinityVal {
  lastUsed: bigint;
  backendId: number;
}
export const lbAffinityValCodec: Codec<LbAffinityVal> = {
  size: 16,
  encode(v, b, o) {
    b.writeBigUInt64LE(v.lastUsed, o);
    b.writeUInt32LE(v.backendId, o + 8);
    b.writeUInt32LE(0, o + 12);
  },
  decode: (b, o) => ({ lastUsed: b.readBigUInt64LE(o), backendId: b.readUInt32LE(o + 8) }),
};

/** struct lb_affinity_match (cilium_lb_affinity_match key; the value is a __u8 0): a backend still in an affinity service. */
export interface LbAffinityMatch {
  backendId: number;
  revNatId: number;
}
export const lbAffinityMatchCodec: Codec<LbAffinityMatch> = {
  size: 8,
  encode(v, b, o) {
    b.writeUInt32LE(v.backendId, o);
    b.writeUInt16LE(v.revNatId, o + 4);
    b.writeUInt16LE(0, o + 6);
  },
  decode: (b, o) => ({ backendId: b.readUInt32LE(o), revNatId: b.readUInt16LE(o + 4) }),
};
/** __u8 values (cilium_lb_affinity_match: always 0) */
export const u8ValueCodec: Codec<number> = {
  size: 1,
  encode: (v, b, o) => void b.writeUInt8(v, o),
  decode: (b, o) => b.readUInt8(o),
};

/** struct lb4_maglev: LB_MAGLEV_LUT_SIZE backend ids. */
export const lb4MaglevCodec: Codec<Uint32Array> = {
  size: LB_MAGLEV_LUT_SIZE * 4,
  encode(v, b, o) {
    if (v.length !== LB_MAGLEV_LUT_SIZE) throw new Error(`maglev table has ${v.length} entries, not ${LB_MAGLEV_LUT_SIZE}`);
    for (let i = 0; i < LB_MAGLEV_LUT_SIZE; i++) b.writeUInt32LE(v[i] ?? 0, o + i * 4);
  },
  decode(b, o) {
    const out = new Uint32Array(LB_MAGLEV_LUT_SIZE);
    for (let i = 0; i < LB_MAGLEV_LUT_SIZE; i++) out[i] = b.readUInt32LE(o + i * 4);
    return out;
  },
};

/** struct lb4_sk_rnat_key */
export interface Lb4SkRnatKey {
  cookie: bigint;
  address: string;
  /** host order (stored in network order) */
  port: number;
}
export const lb4SkRnatKeyCodec: Codec<Lb4SkRnatKey> = {
  size: 16,
  encode(v, b, o) {
    b.writeBigUInt64LE(v.cookie, o);
    writeIpv4(v.address, b, o + 8);
    b.writeUInt16BE(v.port, o + 12);
    b.writeUInt16LE(0, o + 14);
  },
  decode: (b, o) => ({ cookie: b.readBigUInt64LE(o), address: readIpv4(b, o + 8), port: b.readUInt16BE(o + 12) }),
};

/** struct lb4_sk_rnat_val */
export interface Lb4SkRnatVal {
  address: string;
  /** host order (stored in network order) */
  port: number;
  revNatIndex: number;
}
export const lb4SkRnatValCodec: Codec<Lb4SkRnatVal> = {
  size: 8,
  encode(v, b, o) {
    writeIpv4(v.address, b, o);
    b.writeUInt16BE(v.port, o + 4);
    b.writeUInt16LE(v.revNatIndex, o + 6);
  },
  decode: (b, o) => ({ address: readIpv4(b, o), port: b.readUInt16BE(o + 4), revNatIndex: b.readUInt16LE(o + 6) }),
};

/** struct nat4_entry (cilium_snat_v4_ext values; keys are ct_key4) */
export interface Nat4Entry {
  toAddr: string;
  /** host order (stored in network order) */
  toPort: number;
  created: bigint;
}
export const nat4EntryCodec: Codec<Nat4Entry> = {
  size: 16,
  encode(v, b, o) {
    writeIpv4(v.toAddr, b, o);
    b.writeUInt16BE(v.toPort, o + 4);
    b.writeUInt16LE(0, o + 6);
    b.writeBigUInt64LE(v.created, o + 8);
  },
  decode: (b, o) => ({ toAddr: readIpv4(b, o), toPort: b.readUInt16BE(o + 4), created: b.readBigUInt64LE(o + 8) }),
};
