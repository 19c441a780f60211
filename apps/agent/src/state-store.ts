import { mkdirSync, readFileSync, renameSync, writeFileSync, fsyncSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { Allocation } from './ipam/host-scope-ipam.js';
import { AgentError } from './errors.js';

export interface EndpointRecord {
  id: number;
  containerId: string;
  containerIfname: string;
  ifname: string;
  ifindex: number;
  mac: string;
  hostMac: string;
  ipv4: string;
  netnsPath?: string;
  podName?: string;
  namespace?: string;
  labels: string[];
  createdAt: string;
}

export interface AgentState {
  version: 1;
  podCidr: string;
  endpoints: EndpointRecord[];
  ipam: Allocation[];
}

/** The agent's durable state: one JSON document in the state dir, replaced atomically on each change. */
export class StateStore {
  readonly path: string;

  constructor(readonly dir: string) {
    this.path = join(dir, 'agent-state.json');
  }

  load(): AgentState | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    try {
      const s = JSON.parse(text) as AgentState;
      if (s.version !== 1 || !Array.isArray(s.endpoints) || !Array.isArray(s.ipam)) throw new Error('unexpected shape');
      return s;
    } catch (e) {
      throw new AgentError('STATE_CORRUPT', `state file ${this.path} is unreadable: ${e instanceof Error ? e.message : String(e)}`, 'move it aside to start with empty state (pinned maps are reconciled)');
    }
  }

  save(state: AgentState): void {
    mkdirSync(this.dir, { recursive: true });
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(state, null, 1));
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }
}
