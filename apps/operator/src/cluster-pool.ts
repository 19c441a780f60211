// Cluster-pool IPAM: carves /maskSize pod CIDRs out of the pool CIDR list and hands one to each CiliumNode.
// Pure and synchronous: the operator's state is the CiliumNodes themselves; on start it re-derives every
// allocation with occupy() from spec.ipam.podCIDRs, then allocates only for nodes without one. A CIDR is
// never handed out twice; the lowest free CIDR of the first pool with room is handed out next.

export class IpamError extends Error {
  readonly code: string;
  readonly hint: string;
  constructor(message: string, code: string, hint: string) {
    super(message);
    this.name = 'IpamError';
    this.code = code;
    this.hint = hint;
  }
}

interface Pool {
  cidr: string;
  base: number; // network address as uint32
  count: number; // number of /maskSize subnets
  used: Map<number, string>; // subnet index -> owner
}

function parseIpv4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses "a.b.c.d/len"; the address must be the network address. */
export function parseCidr(s: string): { base: number; len: number } {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s.trim());
  const base = m ? parseIpv4(m[1]!) : undefined;
  const len = m ? Number(m[2]) : NaN;
  if (base === undefined || !(len >= 0 && len <= 32)) {
    throw new IpamError(`invalid IPv4 CIDR "${s}"`, 'EIPAMCIDR', 'write pool CIDRs as a.b.c.d/len, e.g. 10.0.0.0/8');
  }
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  if ((base & mask) >>> 0 !== base) {
    throw new IpamError(`CIDR "${s}" has host bits set`, 'EIPAMCIDR', `use the network address ${formatIpv4((base & mask) >>> 0)}/${len}`);
  }
  return { base, len };
}

export interface PoolStatus {
  cidr: string;
  total: number;
  used: number;
}

export class ClusterPoolAllocator {
  readonly maskSize: number;
  readonly #pools: Pool[];
  readonly #byOwner = new Map<string, string>();

  constructor(cidrs: string[], maskSize: number) {
    if (!Number.isInteger(maskSize) || maskSize < 1 || maskSize > 32) {
      throw new IpamError(`invalid mask size ${maskSize}`, 'EIPAMMASK', 'cluster-pool-ipv4-mask-size must be an integer 1..32 (default 24)');
    }
    if (cidrs.length === 0) throw new IpamError('no pool CIDR given', 'EIPAMNOPOOL', 'set cluster-pool-ipv4-cidr (e.g. 10.0.0.0/8)');
    this.maskSize = maskSize;
    this.#pools = cidrs.map((c) => {
      const { base, len } = parseCidr(c);
      if (len > maskSize) {
        throw new IpamError(`pool ${c} is smaller than a /${maskSize}`, 'EIPAMMASK', `use a pool prefix length <= ${maskSize} or a larger mask size`);
      }
      return { cidr: c.trim(), base, count: 2 ** (maskSize - len), used: new Map() };
    });
    for (let i = 0; i < this.#pools.length; i++) {
      for (let j = 0; j < i; j++) {
        const a = this.#pools[i]!;
        const b = this.#pools[j]!;
        const aEnd = a.base + a.count * 2 ** (32 - maskSize);
        const bEnd = b.base + b.count * 2 ** (32 - maskSize);
        if (a.base < bEnd && b.base < aEnd) throw new IpamError(`pools ${a.cidr} and ${b.cidr} overlap`, 'EIPAMOVERLAP', 'list disjoint CIDRs');
      }
    }
  }

  #locate(cidr: string): { pool: Pool; index: number } | undefined {
    let p: { base: number; len: number };
    try {
      p = parseCidr(cidr);
    } catch {
      return undefined;
    }
    if (p.len !== this.maskSize) return undefined;
    const size = 2 ** (32 - this.maskSize);
    for (const pool of this.#pools) {
      const off = p.base - pool.base;
      if (off >= 0 && off < pool.count * size) return { pool, index: off / size };
    }
    return undefined;
  }

  /** The CIDR held by owner, if any. */
  cidrOf(owner: string): string | undefined {
    return this.#byOwner.get(owner);
  }

  /** The owner of a CIDR, if allocated. */
  ownerOf(cidr: string): string | undefined {
    const l = this.#locate(cidr);
    return l ? l.pool.used.get(l.index) : undefined;
  }

  /**
   * Records an existing allocation (re-derivation from CiliumNodes). Returns 'ok' (recorded or already
   * owner's), 'foreign' (not a /mask of any pool: left alone), or 'conflict' (another owner holds it).
   */
  occupy(cidr: string, owner: string): 'ok' | 'foreign' | 'conflict' {
    const l = this.#locate(cidr);
    if (!l) return 'foreign';
    const cur = l.pool.used.get(l.index);
    if (cur !== undefined && cur !== owner) return 'conflict';
    const prev = this.#byOwner.get(owner);
    if (prev !== undefined && prev !== cidr) return 'conflict';
    l.pool.used.set(l.index, owner);
    this.#byOwner.set(owner, cidr);
    return 'ok';
  }

  /** The owner's CIDR: its existing one, else the lowest free /mask. Throws EIPAMEXHAUSTED when full. */
  allocate(owner: string): string {
    const have = this.#byOwner.get(owner);
    if (have !== undefined) return have;
    const size = 2 ** (32 - this.maskSize);
    for (const pool of this.#pools) {
      if (pool.used.size >= pool.count) continue;
      for (let i = 0; i < pool.count; i++) {
        if (!pool.used.has(i)) {
          pool.used.set(i, owner);
          const cidr = `${formatIpv4((pool.base + i * size) >>> 0)}/${this.maskSize}`;
          this.#byOwner.set(owner, cidr);
          return cidr;
        }
      }
    }
    throw new IpamError(
      `cluster pool exhausted: all ${this.status().reduce((n, p) => n + p.total, 0)} /${this.maskSize} CIDRs of ${this.#pools.map((p) => p.cidr).join(', ')} are in use`,
      'EIPAMEXHAUSTED',
      'add a CIDR to cluster-pool-ipv4-cidr (clusterPoolIPv4PodCIDRList) or remove nodes',
    );
  }

  /** Frees the owner's CIDR; returns it (undefined if the owner had none). */
  release(owner: string): string | undefined {
    const cidr = this.#byOwner.get(owner);
    if (cidr === undefined) return undefined;
    this.#byOwner.delete(owner);
    const l = this.#locate(cidr);
    if (l && l.pool.used.get(l.index) === owner) l.pool.used.delete(l.index);
    return cidr;
  }

  owners(): Map<string, string> {
    return new Map(this.#byOwner);
  }

  status(): PoolStatus[] {
    return this.#pools.map((p) => ({ cidr: p.cidr, total: p.count, used: p.used.size }));
  }
}
