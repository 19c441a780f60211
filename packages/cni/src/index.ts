/** @cilium-ts/cni: the CNI plugin's logic, run by the standalone plugin (apps/cni) and by cilium-agent. */
export { runCni, type RunCniOptions, type CniOutcome } from './run-cni.js';
export type { CniAgent } from './cni-context.js';
export type { CniEnvVars, CniCommand } from './cni-env.js';
export { CniCode, CniError } from './cni-error.js';
export { LATEST_VERSION, SUPPORTED_VERSIONS } from './cni-version.js';
export { hostVethName } from './host-veth-name.js';
export type { LogSink } from './logger.js';
