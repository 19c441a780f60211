import { createHash } from 'node:crypto';

/** Host side of a pod's veth: `lxc` + the first 12 hex digits of sha256(containerId + ':' + ifname) (15 chars). */
export function hostVethName(containerId: string, ifname: string): string {
  return 'lxc' + createHash('sha256').update(`${containerId}:${ifname}`).digest('hex').slice(0, 12);
}
