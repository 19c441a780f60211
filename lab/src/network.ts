// The lab's network: an underlay bridge in a netns of its own, the control plane and every node a netns
// with a veth on that bridge. Nothing is created in the root netns: every link is made inside the underlay
// netns, its peer directly inside the target netns (IFLA_NET_NS_FD).
import { spawnSync } from 'node:child_process';
import { closeNetns, createNetns, deleteNetns, listNetns, Netlink, netnsPath, openNetns } from '@cilium-ts/netlink';
import { LabError } from './lab-error.js';
import type { LabLayout } from './layout.js';

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new LabError('LAB_IP', `ip ${args.join(' ')} failed: ${r.error ? r.error.message : r.stderr.trim()}`, 'is iproute2 installed and are we root?');
  }
}

function loUp(nl: Netlink): void {
  nl.setLinkUp(nl.requireLink('lo').index);
}

/** Creates the underlay netns with its bridge (gateway address .1 on it, forwarding off). */
export function createUnderlay(lab: LabLayout): void {
  createNetns(lab.underlayNetns);
  // The bridge: our netlink package has no bridge kind yet, so `ip` makes it (setup only, not a hot path).
  ip(['-n', lab.underlayNetns, 'link', 'add', lab.bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
  const nl = Netlink.open({ netnsPath: netnsPath(lab.underlayNetns) });
  try {
    loUp(nl);
    const br = nl.requireLink(lab.bridge);
    nl.addAddress(br.index, `${lab.gatewayIp}/${lab.prefixLen}`);
    nl.setLinkUp(br.index);
  } finally {
    nl.close();
  }
}

export interface Attachment {
  /** The netns to plug in (created here). */
  netns: string;
  /** The veth end in the underlay netns. */
  underlayLink: string;
  ip: string;
}

/** Creates netns `a.netns`, a veth eth0 in it on the lab bridge, address a.ip/24, default route via .1. */
export function attach(lab: LabLayout, a: Attachment): void {
  createNetns(a.netns);
  const targetFd = openNetns(netnsPath(a.netns));
  const ul = Netlink.open({ netnsPath: netnsPath(lab.underlayNetns) });
  try {
    ul.createVeth({ name: a.underlayLink, peerName: 'eth0', peerNetnsFd: targetFd });
  } finally {
    ul.close();
    closeNetns(targetFd);
  }
  ip(['-n', lab.underlayNetns, 'link', 'set', a.underlayLink, 'master', lab.bridge, 'up']);
  const nl = Netlink.open({ netnsPath: netnsPath(a.netns) });
  try {
    loUp(nl);
    const eth0 = nl.requireLink('eth0');
    nl.addAddress(eth0.index, `${a.ip}/${lab.prefixLen}`);
    nl.setLinkUp(eth0.index);
    nl.addRoute({ dst: '0.0.0.0/0', gateway: lab.gatewayIp, ifindex: eth0.index });
  } finally {
    nl.close();
  }
}

/** Deletes named netns (their links go with them). Missing ones are fine. */
export function deleteNetnsList(names: string[]): void {
  const present = new Set(listNetns());
  for (const n of names) if (present.has(n)) deleteNetns(n);
}

/** Pod netns the lab kubelet made for this lab: named `<lab>-<node>-...` (see lab/README.md). */
export function podNetnsOf(labName: string, nodes: string[]): string[] {
  const prefixes = nodes.map((n) => `${labName}-${n}-`);
  return listNetns().filter((ns) => prefixes.some((p) => ns.startsWith(p)));
}
