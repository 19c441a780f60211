import { randomBytes } from 'node:crypto';
import { NetlinkError } from './netlink-error.js';

const MAC_RE = /^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/;

/** "aa:bb:cc:dd:ee:ff" (also accepts '-' separators) -> 6 bytes. */
export function parseMac(mac: string): Buffer {
  const s = mac.replace(/-/g, ':');
  if (!MAC_RE.test(s)) {
    throw NetlinkError.invalid(`parse MAC ${JSON.stringify(mac)}`, 'not a MAC address', 'write it as six hex pairs, e.g. "02:00:0a:00:00:01"');
  }
  return Buffer.from(s.split(':').map((h) => parseInt(h, 16)));
}

/** Bytes -> lower-case "aa:bb:cc:dd:ee:ff" (any length; an empty buffer gives ""). */
export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** A random locally administered unicast MAC (like the kernel's eth_random_addr). */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return formatMac(b);
}
