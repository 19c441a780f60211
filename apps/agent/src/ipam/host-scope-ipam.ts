import { CidrError, cidrContains, formatIpv4, parseCidr, parseIpv4, type Ipv4Cidr } from './cidr.js';

export class IpamError extends Error {
  constructor(
    readonly code: 'IPAM_EXHAUSTED' | 'IPAM_NOT_FOUND' | 'IPAM_IN_USE' | 'IPAM_OUT_OF_RANGE',
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'IpamError';
  }
}

export interface Allocation {
  ip: string;
  owner: string;
}

/**
 * Host-scope IPAM: hands out addresses of one pod CIDR. The network address, the router address
 * (the first host address) and the broadcast address are never handed out. Allocation walks from a
 * cursor so a just-released address is not reused at once (as Cilium's allocator does).
 */
export class HostScopeIpam {
  readonly cidr: Ipv4Cidr;
  readonly routerIp: string;
  readonly #owners = new Map<number, string>();
  readonly #first: number;
  readonly #last: number;
  #cursor: number;

  constructor(podCidr: string) {
    this.cidr = parseCidr(podCidr);
    if (this.cidr.prefix > 30) {
      throw new CidrError(`pod CIDR ${podCidr} is too small`, 'use a /30 or larger (e.g. /24)');
    }
    this.routerIp = formatIpv4(this.cidr.base + 1);
    this.#first = this.cidr.base + 2;
    this.#last = this.cidr.base + this.cidr.size - 2;
    this.#cursor = this.#first;
  }

  get capacity(): number {
    return this.#last - this.#first + 1;
  }

  get allocated(): number {
    return this.#owners.size;
  }

  allocateNext(owner: string): string {
    const span = this.capacity;
    for (let i = 0; i < span; i++) {
      const n = this.#first + ((this.#cursor - this.#first + i) % span);
      if (!this.#owners.has(n)) {
        this.#owners.set(n, owner);
        this.#cursor = n + 1 > this.#last ? this.#first : n + 1;
        return formatIpv4(n);
      }
    }
    throw new IpamError('IPAM_EXHAUSTED', `no free address left in ${this.cidr.text} (${span} in use)`, 'release unused endpoints or use a larger --pod-cidr');
  }

  /** Claims a specific address (restore after restart, or a requested IP). */
  allocate(ip: string, owner: string): void {
    const n = parseIpv4(ip);
    if (!cidrContains(this.cidr, n) || n < this.#first || n > this.#last) {
      throw new IpamError('IPAM_OUT_OF_RANGE', `${ip} is not an allocatable address of ${this.cidr.text}`, `pick an address in ${formatIpv4(this.#first)}-${formatIpv4(this.#last)}`);
    }
    const cur = this.#owners.get(n);
    if (cur !== undefined && cur !== owner) throw new IpamError('IPAM_IN_USE', `${ip} is already allocated to ${cur}`, 'release it first');
    this.#owners.set(n, owner);
  }

  release(ip: string): void {
    const n = parseIpv4(ip);
    if (!this.#owners.delete(n)) throw new IpamError('IPAM_NOT_FOUND', `${ip} is not allocated`, 'nothing to release');
  }

  owner(ip: string): string | undefined {
    return this.#owners.get(parseIpv4(ip));
  }

  list(): Allocation[] {
    return [...this.#owners].sort((a, b) => a[0] - b[0]).map(([n, owner]) => ({ ip: formatIpv4(n), owner }));
  }
}
