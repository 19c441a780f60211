// NodePort range vs. the node's ephemeral ports, as Cilium's agent (enable-auto-protect-node-port-range, on by
// default): when net.ipv4.ip_local_port_range overlaps the NodePort range, the NodePort range is appended to
// net.ipv4.ip_local_reserved_ports, so the node's own connections never take a NodePort as their source port.
// Both sysctls are per network namespace; the agent only writes them in its own netns (the node's), and never
// when that is the machine's root netns (inRootNetns): there it only reports what it would do.
// The SNAT port range (bpf_host, Cilium's NODEPORT_PORT_MIN_NAT..MAX_NAT = NodePort max + 1 .. 65535) is not
// reserved (it is most of the ephemeral range, as in Cilium): bpf_host claims the ports of the node's own
// connections in it (cil_to_netdev), so NodePort SNAT never picks one.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentError } from '../errors.js';

export interface NodePortRangeResult {
  /** The ephemeral range found (ip_local_port_range). */
  ephemeral: [number, number];
  /** What ip_local_reserved_ports holds afterwards ("" when empty). */
  reservedPorts: string;
  /** The range appended to ip_local_reserved_ports, if the agent did. */
  reserved?: string;
  /** Why nothing was written although the ranges overlap. */
  skipped?: string;
}

/** "1-3,7,10-12" -> [[1,3],[7,7],[10,12]] */
export function parsePortList(s: string): Array<[number, number]> {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map((x) => {
      const [a, b] = x.split('-').map(Number);
      return [a ?? 0, b ?? a ?? 0] as [number, number];
    });
}

function covered(list: Array<[number, number]>, min: number, max: number): boolean {
  for (let p = min; p <= max; ) {
    const r = list.find(([a, b]) => a <= p && p <= b);
    if (!r) return false;
    p = r[1] + 1;
  }
  return true;
}

/** The inode of the initial (root) network namespace since Linux 6.x (PROC_NET_INIT_INO, 0xEFFFFFF9). */
const PROC_NET_INIT_INO = 0xeffffff9;

/**
 * True when this process is in the machine's root network namespace: its netns inode is the init netns' fixed
 * one, or the one PID 1 is in (when /proc/1/ns/net can be read; it often cannot).
 */
export function inRootNetns(proc = '/proc'): boolean {
  let self: number;
  try {
    self = statSync(join(proc, 'self/ns/net')).ino;
  } catch {
    return true; // cannot tell: act as if it were, and write nothing
  }
  if (self === PROC_NET_INIT_INO) return true;
  try {
    return self === statSync(join(proc, '1/ns/net')).ino;
  } catch {
    return false;
  }
}

/**
 * Reserves the NodePort range [min, max] in this netns when the ephemeral range overlaps it. Throws AgentError
 * NODEPORT_RANGE_RESERVE_FAILED (with errno) when the sysctl cannot be written.
 */
export function protectNodePortRange(min: number, max: number, o: { proc?: string; rootNetns?: boolean } = {}): NodePortRangeResult {
  const proc = o.proc ?? '/proc';
  const dir = join(proc, 'sys/net/ipv4');
  const [lo, hi] = readFileSync(join(dir, 'ip_local_port_range'), 'utf8').trim().split(/\s+/).map(Number);
  const ephemeral: [number, number] = [lo ?? 32768, hi ?? 60999];
  const reservedPorts = readFileSync(join(dir, 'ip_local_reserved_ports'), 'utf8').trim();
  if (max < ephemeral[0] || min > ephemeral[1] || covered(parsePortList(reservedPorts), min, max)) return { ephemeral, reservedPorts };
  if (o.rootNetns ?? inRootNetns(proc)) {
    return { ephemeral, reservedPorts, skipped: "the agent runs in the machine's root network namespace: its sysctls are left alone" };
  }
  const next = reservedPorts ? `${reservedPorts},${min}-${max}` : `${min}-${max}`;
  try {
    writeFileSync(join(dir, 'ip_local_reserved_ports'), `${next}\n`);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new AgentError(
      'NODEPORT_RANGE_RESERVE_FAILED',
      `cannot add the NodePort range ${min}-${max} to net.ipv4.ip_local_reserved_ports (it overlaps the ephemeral ports ${ephemeral[0]}-${ephemeral[1]}): ${err.message}`,
      'run the agent with CAP_NET_ADMIN in the node netns, or move net.ipv4.ip_local_port_range off the NodePort range',
      500,
      err.errno,
    );
  }
  return { ephemeral, reservedPorts: readFileSync(join(dir, 'ip_local_reserved_ports'), 'utf8').trim(), reserved: `${min}-${max}` };
}
