/** Opening a pod's network namespace by path, with spec errors and fd hygiene. */
import { closeSync } from 'node:fs';
import { openNetns, sysctlInNetns } from '@cilium-ts/netlink';
import { CniCode, CniError } from './cni-error.js';

/** Opens `path` (e.g. /run/netns/x or /proc/<pid>/ns/net); code 4 naming CNI_NETNS if it cannot. */
export function openPodNetns(path: string): number {
  try {
    return openNetns(path);
  } catch (e) {
    const x = e as { errno?: unknown; message?: unknown };
    throw new CniError(CniCode.INVALID_ENV, 'CNI_NETNS_OPEN', `invalid environment variable CNI_NETNS: cannot open network namespace ${path}`, {
      details: typeof x?.message === 'string' ? x.message : String(e),
      hint: 'CNI_NETNS must be the path of an existing network namespace (e.g. /run/netns/<name> or /proc/<pid>/ns/net)',
      ...(typeof x?.errno === 'number' ? { errno: x.errno } : {}),
      cause: e,
    });
  }
}

export function closeFd(fd: number | undefined): void {
  if (fd === undefined) return;
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/**
 * Writes a sysctl inside the netns `fd` (netlink's sysctlInNetns: /proc/sys/net follows the netns of
 * the thread that opens it). Returns false if the key does not exist (e.g. IPv6 off in the kernel).
 */
export function writeSysctlInNetns(fd: number, key: string, value: string): boolean {
  try {
    sysctlInNetns(fd, key, value);
    return true;
  } catch (e) {
    if ((e as { errno?: unknown }).errno === 2) return false;
    throw e;
  }
}
