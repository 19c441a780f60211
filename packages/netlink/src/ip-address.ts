import { NetlinkError } from './netlink-error.js';

export type IpFamily = 4 | 6;

export interface ParsedIp {
  family: IpFamily;
  bytes: Buffer; // 4 or 16 bytes, network order
}

export interface ParsedCidr extends ParsedIp {
  prefixLen: number;
}

function bad(s: string, what: string): NetlinkError {
  return NetlinkError.invalid(`parse ${what} ${JSON.stringify(s)}`, `not an ${what}`, `write e.g. "10.0.0.1"${what === 'CIDR' ? '/24' : ''} or "fd00::1"${what === 'CIDR' ? '/64' : ''}`);
}

function parseV4(s: string): Buffer | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = Buffer.alloc(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(s: string): Buffer | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] ?? '';
      if (p.includes('.')) {
        // embedded IPv4, only as the last group
        if (i !== parts.length - 1) return undefined;
        const v4 = parseV4(p);
        if (!v4) return undefined;
        out.push(v4.readUInt16BE(0), v4.readUInt16BE(2));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** Parses a dotted IPv4 or an IPv6 address into network-order bytes. */
export function parseIp(s: string): ParsedIp {
  const v4 = parseV4(s);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseV6(s);
  if (v6) return { family: 6, bytes: v6 };
  throw bad(s, 'IP address');
}

/** Parses "ADDR/LEN" (or a bare address, meaning a host prefix). "default" means 0.0.0.0/0. */
export function parseCidr(s: string): ParsedCidr {
  const text = s === 'default' ? '0.0.0.0/0' : s;
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  let ip: ParsedIp;
  try {
    ip = parseIp(addr);
  } catch {
    throw bad(s, 'CIDR');
  }
  const max = ip.family === 4 ? 32 : 128;
  if (slash < 0) return { ...ip, prefixLen: max };
  const lenText = text.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(lenText) || Number(lenText) > max) throw bad(s, 'CIDR');
  return { ...ip, prefixLen: Number(lenText) };
}

/** Network-order bytes (4 or 16) -> canonical text (RFC 5952 for IPv6). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) throw NetlinkError.invalid('format IP address', `${bytes.length} bytes`, 'an IP address has 4 or 16 bytes');
  const b = Buffer.from(bytes);
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(b.readUInt16BE(i * 2));
  // IPv4-mapped ::ffff:a.b.c.d
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return `::ffff:${Array.from(b.subarray(12)).join('.')}`;
  }
  // longest run of >= 2 zero groups, first one wins
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}
