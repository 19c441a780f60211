import { readFileSync, writeFileSync } from 'node:fs';
import { NetlinkError } from './netlink-error.js';
import { errnoOf, withNetns } from './netns.js';

/** "net.ipv6.conf.eth0.disable_ipv6" or "net/ipv6/conf/eth0.100/disable_ipv6" -> /proc/sys/... */
export function sysctlPath(key: string): string {
  if (key === '' || key.includes('..') || key.includes('\0')) {
    throw NetlinkError.invalid(`sysctl ${key}`, 'invalid key', 'write e.g. "net.ipv4.ip_forward" (use "/" separators when a name contains dots)');
  }
  return `/proc/sys/${key.includes('/') ? key.replace(/^\/+/, '') : key.replace(/\./g, '/')}`;
}

/**
 * Reads, and when value is given first writes, a sysctl inside a netns (path or fd). /proc/sys/net
 * shows the netns of the thread that opens it, so this enters the netns on this thread (withNetns).
 * Returns the value read back, trimmed.
 */
export function sysctlInNetns(netns: string | number, key: string, value?: string | number): string {
  const path = sysctlPath(key);
  return withNetns(netns, () => {
    try {
      if (value !== undefined) writeFileSync(path, `${value}\n`);
      return readFileSync(path, 'utf8').trim();
    } catch (e) {
      const errno = errnoOf(e);
      if (errno === undefined) throw e;
      throw NetlinkError.fromErrno(`sysctl ${key}${value !== undefined ? `=${value}` : ''} in ${typeof netns === 'number' ? `netns fd ${netns}` : netns}`, errno);
    }
  });
}
