/** The CNI_* environment of one invocation, validated per command (spec Section 2, "Parameters"). */
import { CniCode, CniError } from './cni-error.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';
const COMMANDS: readonly string[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'];

/** The variables of one invocation: `process.env` in the standalone plugin, request headers in the agent. */
export type CniEnvVars = Readonly<Record<string, string | undefined>>;

export interface CniArgs {
  k8sPodNamespace?: string;
  k8sPodName?: string;
  k8sPodInfraContainerId?: string;
  k8sPodUid?: string;
  ignoreUnknown: boolean;
  /** Every key=value, including unknown ones (kept for logs). */
  all: Record<string, string>;
}

export interface CniEnv {
  command: CniCommand;
  containerId: string;
  netns: string;
  ifname: string;
  args: CniArgs;
  path: string;
}

const CONTAINER_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Linux interface names: 1..15 bytes, no '/', ':' or whitespace, not '.' or '..'. */
const IFNAME_RE = /^[^/:\s]{1,15}$/;

export function parseCommand(env: CniEnvVars): CniCommand {
  const c = env['CNI_COMMAND'];
  if (c === undefined || c === '') throw invalidEnv('CNI_COMMAND', 'is not set');
  if (!COMMANDS.includes(c)) throw invalidEnv('CNI_COMMAND', `"${c}" is not one of ${COMMANDS.join(', ')}`);
  return c as CniCommand;
}

const REQUIRED: Record<CniCommand, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  VERSION: [],
  STATUS: [],
  GC: [],
};

/** Reads and validates the environment for `command` (code 4 naming the variables on failure). */
export function parseEnv(command: CniCommand, env: CniEnvVars): CniEnv {
  const missing = REQUIRED[command].filter((k) => !env[k]);
  if (missing.length > 0) {
    throw new CniError(CniCode.INVALID_ENV, 'CNI_INVALID_ENV', `required environment variables missing: ${missing.join(', ')}`, {
      details: `CNI_COMMAND=${command} needs ${REQUIRED[command].join(', ')}`,
      hint: 'the container runtime must set these (see the CNI spec, section 2)',
    });
  }
  const containerId = env['CNI_CONTAINERID'] ?? '';
  if (containerId !== '' && !CONTAINER_ID_RE.test(containerId)) {
    throw invalidEnv('CNI_CONTAINERID', `"${containerId}" is invalid: it must start with an alphanumeric character followed by [A-Za-z0-9_.-]`);
  }
  const ifname = env['CNI_IFNAME'] ?? '';
  if (ifname !== '' && (!IFNAME_RE.test(ifname) || ifname === '.' || ifname === '..')) {
    throw invalidEnv('CNI_IFNAME', `"${ifname}" is not a usable interface name (1-15 characters, no '/', ':' or whitespace)`);
  }
  return {
    command,
    containerId,
    netns: env['CNI_NETNS'] ?? '',
    ifname,
    args: parseCniArgs(env['CNI_ARGS'] ?? ''),
    path: env['CNI_PATH'] ?? '',
  };
}

/** `CNI_ARGS`: `K=V;K2=V2`. Unknown keys are an error unless `IgnoreUnknown` is true (as in libcni). */
export function parseCniArgs(s: string): CniArgs {
  const all: Record<string, string> = {};
  for (const pair of s.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw invalidEnv('CNI_ARGS', `"${pair}" is not a KEY=VALUE pair`);
    all[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const ignore = (all['IgnoreUnknown'] ?? '').toLowerCase();
  const ignoreUnknown = ignore === '1' || ignore === 'true';
  const known = new Set(['IgnoreUnknown', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID']);
  const unknown = Object.keys(all).filter((k) => !known.has(k));
  if (unknown.length > 0 && !ignoreUnknown) {
    throw invalidEnv('CNI_ARGS', `unknown keys ${unknown.join(', ')} (set IgnoreUnknown=1 to ignore them)`);
  }
  const out: CniArgs = { ignoreUnknown, all };
  if (all['K8S_POD_NAMESPACE']) out.k8sPodNamespace = all['K8S_POD_NAMESPACE'];
  if (all['K8S_POD_NAME']) out.k8sPodName = all['K8S_POD_NAME'];
  if (all['K8S_POD_INFRA_CONTAINER_ID']) out.k8sPodInfraContainerId = all['K8S_POD_INFRA_CONTAINER_ID'];
  if (all['K8S_POD_UID']) out.k8sPodUid = all['K8S_POD_UID'];
  return out;
}

function invalidEnv(name: string, why: string): CniError {
  return new CniError(CniCode.INVALID_ENV, 'CNI_INVALID_ENV', `invalid environment variable ${name}: ${why}`, {
    hint: 'the container runtime sets CNI_* variables; see the CNI spec, section 2',
  });
}
