import { CT_STATES, PROTO_NAMES, type CtEntry, type CtKey4 } from '@cilium-ts/api';

const TCP_FLAG_NAMES = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];

export function tcpFlagNames(f: number): string[] {
  return TCP_FLAG_NAMES.filter((_, i) => (f & (1 << i)) !== 0);
}

export interface CtRow {
  proto: string;
  source: string;
  destination: string;
  state: string;
  expiresInSeconds: number;
  packets: number;
  bytes: number;
  txFlagsSeen: string[];
  rxFlagsSeen: string[];
  seenReply: boolean;
  sourceEndpoint: number;
  destinationEndpoint: number;
}

/** One CT entry as cilium-dbg shows it; `nowNs` is CLOCK_MONOTONIC. */
export function ctRow(k: CtKey4, v: CtEntry, nowNs: bigint): CtRow {
  const proto = PROTO_NAMES[k.proto] ?? String(k.proto);
  const port = (p: number) => (k.proto === 1 ? '' : `:${p}`);
  return {
    proto,
    source: `${k.saddr}${port(k.sport)}`,
    destination: `${k.daddr}${port(k.dport)}`,
    state: CT_STATES[v.state] ?? String(v.state),
    expiresInSeconds: Number((v.expires - nowNs) / 1_000_000_000n),
    packets: Number(v.packets),
    bytes: Number(v.bytes),
    txFlagsSeen: tcpFlagNames(v.txFlagsSeen),
    rxFlagsSeen: tcpFlagNames(v.rxFlagsSeen),
    seenReply: (v.flags & 1) !== 0,
    sourceEndpoint: v.srcEp,
    destinationEndpoint: v.dstEp,
  };
}

export function ctLine(r: CtRow): string {
  const flags = (f: string[]) => (f.length ? f.join('|') : '-');
  return `${r.proto} OUT ${r.source} -> ${r.destination} state=${r.state} expires=${r.expiresInSeconds}s Packets=${r.packets} Bytes=${r.bytes} TxFlagsSeen=${flags(r.txFlagsSeen)} RxFlagsSeen=${flags(r.rxFlagsSeen)} SeenReply=${r.seenReply} SourceEndpoint=${r.sourceEndpoint} DestinationEndpoint=${r.destinationEndpoint}`;
}
