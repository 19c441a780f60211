// `cilium-lab status`: what runs, pids, addresses.
import { labLayout } from './layout.js';
import { isAlive } from './processes.js';
import type { LabState } from './state.js';
import { nsInode } from './processes.js';

export interface LabStatus {
  name: string;
  index: number;
  phase: string;
  subnet: string;
  apiserver: string;
  hostApi: string | undefined;
  kubeconfig: string;
  processes: Array<{ role: string; pid: number; alive: boolean; netns: string; log: string }>;
  nodes: Array<{ name: string; ip: string; netns: string; netnsPresent: boolean }>;
  healthy: boolean;
}

export function labStatus(s: LabState): LabStatus {
  const lab = labLayout(s.name, s.index);
  const processes = s.processes.map((p) => ({ role: p.role, pid: p.pid, alive: isAlive(p), netns: p.netns ?? '(root)', log: p.log }));
  const nodes = s.nodes.map((n) => ({ name: n.name, ip: n.ip, netns: n.netns, netnsPresent: nsInode(`/run/netns/${n.netns}`) !== undefined }));
  return {
    name: s.name,
    index: s.index,
    phase: s.phase,
    subnet: lab.subnet,
    apiserver: `https://${s.cpIp}:${s.apiPort}`,
    hostApi: s.forwardPort === undefined ? undefined : `https://127.0.0.1:${s.forwardPort}`,
    kubeconfig: lab.adminKubeconfig,
    processes,
    nodes,
    healthy: s.phase === 'up' && processes.every((p) => p.alive) && nodes.every((n) => n.netnsPresent),
  };
}

export function formatStatus(st: LabStatus): string {
  const lines = [
    `Lab:        ${st.name} (index ${st.index}, ${st.phase}${st.healthy ? '' : ', UNHEALTHY'})`,
    `Underlay:   ${st.subnet} (bridge br0 in netns ${st.name}-ul, gateway .1)`,
    `Apiserver:  ${st.apiserver} (netns ${st.name}-cp); from the host: ${st.hostApi ?? '(no forwarder)'}`,
    `Kubeconfig: ${st.kubeconfig}`,
    '',
    'Processes:',
    ...st.processes.map((p) => `  ${p.role.padEnd(26)} pid ${String(p.pid).padEnd(8)} ${(p.alive ? 'running' : 'DEAD').padEnd(8)} netns ${p.netns}`),
    '',
    'Nodes:',
    ...(st.nodes.length === 0 ? ['  (none)'] : st.nodes.map((n) => `  ${n.name.padEnd(10)} ${n.ip.padEnd(16)} netns ${n.netns}${n.netnsPresent ? '' : ' (MISSING)'}`)),
    '',
  ];
  return lines.join('\n');
}
