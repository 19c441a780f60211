// Maglev consistent hashing as Cilium computes it (pkg/maglev): each backend gets a permutation of the
// LUT positions from murmur3 x64_128 of its address (offset = h1 % M, skip = h2 % (M-1) + 1), and the
// backends take turns claiming their next free position until the table is full.
import { LB_MAGLEV_LUT_SIZE } from '@cilium-ts/api';

const M64 = (1n << 64n) - 1n;
const C1 = 0x87c37b91114253d5n;
const C2 = 0x4cf5ad432745937fn;

const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & M64;
const fmix = (k: bigint): bigint => {
  k ^= k >> 33n;
  k = (k * 0xff51afd7ed558ccdn) & M64;
  k ^= k >> 33n;
  k = (k * 0xc4ceb9fe1a85ec53n) & M64;
  k ^= k >> 33n;
  return k;
};

/** MurmurHash3 x64_128 (Austin Appleby's reference; what github.com/spaolacci/murmur3 Sum128WithSeed computes). */
export function murmur3x64_128(data: Buffer, seed: number): [bigint, bigint] {
  let h1 = BigInt(seed >>> 0);
  let h2 = h1;
  const n = data.length;
  const blocks = Math.floor(n / 16);
  for (let i = 0; i < blocks; i++) {
    let k1 = data.readBigUInt64LE(i * 16);
    let k2 = data.readBigUInt64LE(i * 16 + 8);
    k1 = (k1 * C1) & M64;
    k1 = rotl(k1, 31n);
    k1 = (k1 * C2) & M64;
    h1 ^= k1;
    h1 = rotl(h1, 27n);
    h1 = (h1 + h2) & M64;
    h1 = (h1 * 5n + 0x52dce729n) & M64;
    k2 = (k2 * C2) & M64;
    k2 = rotl(k2, 33n);
    k2 = (k2 * C1) & M64;
    h2 ^= k2;
    h2 = rotl(h2, 31n);
    h2 = (h2 + h1) & M64;
    h2 = (h2 * 5n + 0x38495ab5n) & M64;
  }
  const tail = blocks * 16;
  let k1 = 0n;
  let k2 = 0n;
  const rest = n & 15;
  for (let i = rest - 1; i >= 8; i--) k2 ^= BigInt(data[tail + i] ?? 0) << BigInt((i - 8) * 8);
  if (rest > 8) {
    k2 = (k2 * C2) & M64;
    k2 = rotl(k2, 33n);
    k2 = (k2 * C1) & M64;
    h2 ^= k2;
  }
  for (let i = Math.min(rest, 8) - 1; i >= 0; i--) k1 ^= BigInt(data[tail + i] ?? 0) << BigInt(i * 8);
  if (rest > 0) {
    k1 = (k1 * C1) & M64;
    k1 = rotl(k1, 31n);
    k1 = (k1 * C2) & M64;
    h1 ^= k1;
  }
  h1 ^= BigInt(n);
  h2 ^= BigInt(n);
  h1 = (h1 + h2) & M64;
  h2 = (h2 + h1) & M64;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h1 = (h1 + h2) & M64;
  h2 = (h2 + h1) & M64;
  return [h1, h2];
}

/** Cilium's default --bpf-lb-maglev-hash-seed. */
export const DEFAULT_MAGLEV_HASH_SEED = 'JLfvgnHc2kaSUFaI';

/** The murmur seed Cilium derives from the base64 hash seed (its first 4 bytes, big endian). */
export function maglevSeed(seedB64: string = DEFAULT_MAGLEV_HASH_SEED): number {
  const d = Buffer.from(seedB64, 'base64');
  if (d.length < 4) throw new Error(`maglev hash seed "${seedB64}" decodes to fewer than 4 bytes`);
  return d.readUInt32BE(0);
}

export interface MaglevBackend {
  /** The string hashed for this backend (Cilium: the backend's address, "ip:port"). */
  hashKey: string;
  id: number;
}

/**
 * The Maglev lookup table: `m` backend ids (m prime). Backends are ordered by hash key first, so the table
 * depends only on the set of backends, not on their order. Empty without backends (all zeros).
 */
export function maglevTable(backends: MaglevBackend[], m: number = LB_MAGLEV_LUT_SIZE, seed: number = maglevSeed()): Uint32Array {
  const out = new Uint32Array(m);
  if (backends.length === 0) return out;
  const bs = [...backends].sort((a, b) => (a.hashKey < b.hashKey ? -1 : a.hashKey > b.hashKey ? 1 : a.id - b.id));
  const bm = BigInt(m);
  const offset = new Array<number>(bs.length);
  const skip = new Array<number>(bs.length);
  for (let i = 0; i < bs.length; i++) {
    const [h1, h2] = murmur3x64_128(Buffer.from(bs[i]!.hashKey), seed);
    offset[i] = Number(h1 % bm);
    skip[i] = Number((h2 % (bm - 1n)) + 1n);
  }
  const next = new Array<number>(bs.length).fill(0);
  const filled = new Int32Array(m).fill(-1);
  let n = 0;
  for (;;) {
    for (let i = 0; i < bs.length; i++) {
      let c = (offset[i]! + next[i]! * skip[i]!) % m;
      while (filled[c]! >= 0) {
        next[i]!++;
        c = (offset[i]! + next[i]! * skip[i]!) % m;
      }
      filled[c] = i;
      out[c] = bs[i]!.id;
      next[i]!++;
      if (++n === m) return out;
    }
  }
}
