// IPv4 masquerading of pod traffic that leaves the cluster, as Cilium does with `enable-ipv4-masquerade` and
// BPF masquerading off (its default): iptables rules in the node's netns. Pods' packets to anything outside
// the cluster's pod range (ipv4-native-routing-cidr, else the cluster pool, else this node's pod CIDR) take
// the node's address on the way out, so destinations that have no route to pod CIDRs (the control plane,
// DNS, the world) can answer. Traffic between pods is never masqueraded. Idempotent: the chain is rewritten
// as a whole with iptables-restore, the POSTROUTING jump added once.
import { execFileSync, spawnSync } from 'node:child_process';
import { AgentError } from '../errors.js';

export const MASQ_CHAIN = 'CILIUM_POST_nat';
const FEEDER_COMMENT = 'cilium-feeder: CILIUM_POST_nat';
/** MARK_MAGIC_SKIP_MASQ / MARK_MAGIC_MASK of bpf/lib/common.h. */
export const SKIP_MASQ_MARK = '0xa00/0xf00';

export interface MasqueradeOptions {
  /** This node's pod CIDR (the sources). */
  podCidr: string;
  /** Destinations never masqueraded (the cluster's pod range). */
  exclude: string[];
}

/** The iptables-restore input that makes CILIUM_POST_nat exactly our rules. Pure. */
export function masqueradeRules(o: MasqueradeOptions): string {
  const lines = ['*nat', `:${MASQ_CHAIN} - [0:0]`, `-F ${MASQ_CHAIN}`];
  for (const c of o.exclude) lines.push(`-A ${MASQ_CHAIN} -s ${o.podCidr} -d ${c} -m comment --comment "cilium: no masquerade inside the cluster" -j RETURN`);
  // Replies of connections the pod did not open keep the pod's address (bpf_lxc marks them, common.h
  // MARK_MAGIC_SKIP_MASQ): e.g. a backend answering a NodePort client another node SNATed.
  lines.push(`-A ${MASQ_CHAIN} -m mark --mark ${SKIP_MASQ_MARK} -m comment --comment "cilium: replies are not masqueraded" -j RETURN`);
  // never on the agent's own devices (cilium_host, cilium_vxlan, ...)
  lines.push(`-A ${MASQ_CHAIN} -s ${o.podCidr} ! -o cilium_+ -m comment --comment "cilium masquerade non-cluster" -j MASQUERADE`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

function iptablesMissing(): boolean {
  return spawnSync('iptables', ['--version'], { encoding: 'utf8' }).status !== 0;
}

/** Installs (or rewrites) the masquerading rules in the current netns. Throws AgentError with a hint. */
export function installMasquerade(o: MasqueradeOptions): void {
  if (iptablesMissing()) {
    throw new AgentError('MASQUERADE_NO_IPTABLES', 'enable-ipv4-masquerade needs iptables, which is not installed', 'install the iptables package (make build does) or set enableIPv4Masquerade=false');
  }
  try {
    execFileSync('iptables-restore', ['--noflush', '-w', '5'], { input: masqueradeRules(o), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    const rule = ['POSTROUTING', '-m', 'comment', '--comment', FEEDER_COMMENT, '-j', MASQ_CHAIN];
    if (spawnSync('iptables', ['-w', '5', '-t', 'nat', '-C', ...rule], { encoding: 'utf8' }).status !== 0) {
      execFileSync('iptables', ['-w', '5', '-t', 'nat', '-A', ...rule], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    }
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new AgentError('MASQUERADE_INSTALL', `cannot install the masquerading rules: ${(err.stderr ?? err.message).trim()}`, 'check that the kernel has nf_tables/iptable_nat and that nothing else holds the xtables lock');
  }
}
