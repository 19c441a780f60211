// `cilium-lab env`: shell export lines for using a lab from the host.
import { join } from 'node:path';
import { labLayout } from './layout.js';
import type { LabState } from './state.js';

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface LabEnv {
  KUBECONFIG: string;
  PATH_PREFIX: string;
  LAB_NAME: string;
  LAB_API_HOST: string;
  LAB_API_PORT: string;
}

export function labEnv(s: LabState): LabEnv {
  const lab = labLayout(s.name, s.index);
  return {
    KUBECONFIG: lab.adminKubeconfig,
    PATH_PREFIX: `${s.upstreamBin}:${join(s.repoRoot, 'bin')}`,
    LAB_NAME: s.name,
    LAB_API_HOST: s.cpIp,
    LAB_API_PORT: String(s.apiPort),
  };
}

/** `export K=V` lines; PATH puts the upstream bin dir (kubectl, helm) and the repo's bin/ first. */
export function formatEnv(e: LabEnv): string {
  return [
    `export KUBECONFIG=${q(e.KUBECONFIG)}`,
    `export PATH=${q(e.PATH_PREFIX)}:"$PATH"`,
    `export LAB_NAME=${q(e.LAB_NAME)}`,
    `export LAB_API_HOST=${q(e.LAB_API_HOST)}`,
    `export LAB_API_PORT=${q(e.LAB_API_PORT)}`,
    '',
  ].join('\n');
}
