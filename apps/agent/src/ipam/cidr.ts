// IPv4 CIDR arithmetic on unsigned 32-bit integers.

export interface Ipv4Cidr {
  /** Network address as an unsigned 32-bit integer. */
  readonly base: number;
  readonly prefix: number;
  /** Number of addresses in the block. */
  readonly size: number;
  readonly text: string;
}

export class CidrError extends Error {
  readonly code = 'INVALID_CIDR';
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'CidrError';
  }
}

export function parseIpv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4) throw new CidrError(`invalid IPv4 address "${text}"`, 'use dotted quad form, e.g. 10.0.0.1');
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new CidrError(`invalid IPv4 address "${text}"`, 'each octet is 0-255');
    n = n * 256 + Number(p);
  }
  return n >>> 0;
}

export function formatIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function parseCidr(text: string): Ipv4Cidr {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m || !m[1] || !m[2]) throw new CidrError(`invalid CIDR "${text}"`, 'use a.b.c.d/len, e.g. 10.200.0.0/24');
  const prefix = Number(m[2]);
  if (prefix > 32) throw new CidrError(`invalid CIDR "${text}": prefix ${prefix} > 32`, 'use a prefix length of 0-32');
  const addr = parseIpv4(m[1]);
  const size = 2 ** (32 - prefix);
  const base = prefix === 0 ? 0 : (addr & ~(size - 1)) >>> 0;
  if (base !== addr) throw new CidrError(`invalid CIDR "${text}": host bits set`, `did you mean ${formatIpv4(base)}/${prefix}?`);
  return { base, prefix, size, text: `${formatIpv4(base)}/${prefix}` };
}

export function cidrContains(c: Ipv4Cidr, ip: number): boolean {
  return ip >= c.base && ip < c.base + c.size;
}
