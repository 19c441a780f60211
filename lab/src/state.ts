// The lab's state file (LAB_RUN_DIR/<name>/state.json): written before anything is created and updated
// as `up` goes, so `down` knows every netns, process and claim even after a half-finished `up`.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { LabError } from './lab-error.js';
import { labDir } from './layout.js';

/** A process the lab started: pid plus its start time (field 22 of /proc/PID/stat), so a reused pid is never killed. */
export interface ProcessRecord {
  role: string;
  pid: number;
  startTime: string;
  argv: string[];
  log: string;
  /** The named netns it runs in (undefined: the root netns). */
  netns?: string;
}

export interface NodeState {
  name: string;
  netns: string;
  ip: string;
  kubeconfig: string;
  dir: string;
}

export interface LabState {
  version: 1;
  name: string;
  index: number;
  createdAt: string;
  phase: 'creating' | 'up';
  repoRoot: string;
  upstreamBin: string;
  cpIp: string;
  apiPort: number;
  /** The forwarder's port on 127.0.0.1 in the root netns (what KUBECONFIG points at). */
  forwardPort?: number;
  /** Every named netns the lab made (underlay, control plane, nodes), in creation order. */
  netns: string[];
  nodes: NodeState[];
  processes: ProcessRecord[];
}

export function statePath(name: string): string {
  return `${labDir(name)}/state.json`;
}

export function readState(name: string): LabState | undefined {
  const p = statePath(name);
  if (!existsSync(p)) return undefined;
  try {
    const s = JSON.parse(readFileSync(p, 'utf8')) as LabState;
    if (s.version !== 1 || s.name !== name) throw new Error(`unexpected content`);
    return s;
  } catch (e) {
    throw new LabError('LAB_STATE_CORRUPT', `cannot read ${p}: ${(e as Error).message}`, `remove the lab by hand: \`cilium-lab down --name ${name} --force\``);
  }
}

export function writeState(s: LabState): void {
  const p = statePath(s.name);
  mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
  const tmp = `${p}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, p);
}

export function requireState(name: string): LabState {
  const s = readState(name);
  if (s === undefined) {
    throw new LabError('LAB_NOT_FOUND', `no lab named ${JSON.stringify(name)}`, `start it with \`cilium-lab up --name ${name} --nodes 2\``);
  }
  return s;
}
