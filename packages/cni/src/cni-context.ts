/** What every command gets: the validated env and config, a logger and an agent client. */
import { AgentApiError, AgentUnreachableError, type AgentClient } from '@cilium-ts/api';
import type { CniEnv } from './cni-env.js';
import { CniCode, CniError, kernelError } from './cni-error.js';
import type { Logger } from './logger.js';
import type { NetConf } from './netconf.js';

/**
 * What the commands need from cilium-agent: AgentClient's calls (over the unix socket), or anything
 * with the same contract (errors as AgentUnreachableError / AgentApiError).
 */
export type CniAgent = Pick<AgentClient, 'socketPath' | 'healthz' | 'ipamAllocate' | 'ipamRelease' | 'endpointList' | 'endpointGet' | 'endpointPut' | 'endpointDelete'>;

export interface CniContext {
  env: CniEnv;
  conf: NetConf;
  log: Logger;
  agent: CniAgent;
}

/**
 * Maps any failure to a spec error: agent unreachable -> 11 (try again later), agent API error -> 102,
 * kernel/netlink -> 103; CniErrors pass through. `unreachableCode` lets STATUS use 50 instead.
 */
export function toCniError(e: unknown, op: string, unreachableCode: number = CniCode.TRY_AGAIN_LATER): CniError {
  if (e instanceof CniError) return e;
  if (e instanceof AgentUnreachableError) {
    return new CniError(unreachableCode, 'CNI_AGENT_UNREACHABLE', `${op}: cannot reach cilium-agent at ${e.socketPath}: is cilium-agent running?`, {
      details: e.message,
      hint: e.hint,
      ...(e.errno !== undefined ? { errno: e.errno } : {}),
      cause: e,
    });
  }
  if (e instanceof AgentApiError) {
    return new CniError(CniCode.AGENT_API, `CNI_AGENT_${e.code}`, `${op}: ${e.message}`, { hint: e.hint, cause: e });
  }
  return kernelError(op, e);
}
