import { z } from 'zod';
import { AgentError } from '../errors.js';
import { CidrError, parseCidr } from '../ipam/cidr.js';

/**
 * What this agent must know about another node to reach its pods: its name, its underlay IPv4 and its
 * pod CIDRs. The same facts come from `--remote-nodes-file` today and from CiliumNodes in Kubernetes mode.
 */
export interface RemoteNode {
  name: string;
  /** Underlay IPv4 (the VXLAN remote in tunnel mode, the route gateway in native mode). */
  ip: string;
  /** IPv4 pod CIDRs; IPv6 CIDRs are ignored (IPv4-only datapath). */
  podCIDRs: string[];
}

export const remoteNodeSchema = z
  .object({
    name: z.string().min(1),
    ip: z.string().ip({ version: 'v4' }),
    podCIDRs: z.array(z.string()).default([]),
  })
  .strict();

/** Validates one node; IPv4 CIDRs are normalised, IPv6 ones dropped. Throws AgentError NODE_INVALID. */
export function parseRemoteNode(raw: unknown): RemoteNode {
  const r = remoteNodeSchema.safeParse(raw);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.join('.') || '(node)'}: ${i.message}`).join('; ');
    throw new AgentError('NODE_INVALID', `invalid remote node: ${msg}`, 'a node is {"name": "n2", "ip": "192.168.50.2", "podCIDRs": ["10.1.2.0/24"]}', 400);
  }
  const podCIDRs: string[] = [];
  for (const c of r.data.podCIDRs) {
    if (c.includes(':')) continue;
    try {
      podCIDRs.push(parseCidr(c).text);
    } catch (e) {
      if (e instanceof CidrError) throw new AgentError('NODE_INVALID', `remote node ${r.data.name}: ${e.message}`, e.hint, 400);
      throw e;
    }
  }
  return { name: r.data.name, ip: r.data.ip, podCIDRs };
}

/** A JSON document of nodes: an array, or `{ "nodes": [...] }`. Names must be unique. */
export function parseRemoteNodes(raw: unknown): RemoteNode[] {
  const list = Array.isArray(raw) ? raw : raw !== null && typeof raw === 'object' && Array.isArray((raw as { nodes?: unknown }).nodes) ? (raw as { nodes: unknown[] }).nodes : undefined;
  if (!list) throw new AgentError('NODE_INVALID', 'remote nodes must be a JSON array of {name, ip, podCIDRs}', 'write e.g. [{"name": "n2", "ip": "192.168.50.2", "podCIDRs": ["10.1.2.0/24"]}]', 400);
  const nodes = list.map(parseRemoteNode);
  const seen = new Set<string>();
  for (const n of nodes) {
    if (seen.has(n.name)) throw new AgentError('NODE_INVALID', `remote node ${n.name} is listed twice`, 'give every node a unique name', 400);
    seen.add(n.name);
  }
  return nodes;
}
