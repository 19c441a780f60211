/**
 * The plugin configuration read from stdin (spec Section 1 and 3: a conflist's plugin object with
 * `name`, `cniVersion`, `prevResult`, `runtimeConfig` injected by the runtime) and its validation.
 */
import { CniCode, CniError } from './cni-error.js';
import type { CniCommand } from './cni-env.js';
import { compareVersions, isSupportedVersion, SUPPORTED_VERSIONS } from './cni-version.js';
import { DEFAULT_SOCKET_PATH } from '@cilium-ts/api';

export interface Attachment {
  containerID: string;
  ifname: string;
}

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  socketPath: string;
  mtu: number;
  enableDebug: boolean;
  logFile: string | undefined;
  prevResult: Record<string, unknown> | undefined;
  /** GC: `cni.dev/valid-attachments` (also accepted under the spec text's `cni.dev/attachments`). */
  validAttachments: Attachment[] | undefined;
  raw: Record<string, unknown>;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Decodes stdin into a JSON object (code 6 on failure). */
export function decodeStdin(stdin: string): Record<string, unknown> {
  if (stdin.trim() === '') {
    throw new CniError(CniCode.DECODE_FAILURE, 'CNI_DECODE', 'failed to decode network configuration: stdin is empty', {
      hint: 'the runtime must write the plugin configuration (JSON) on stdin',
    });
  }
  let v: unknown;
  try {
    v = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(CniCode.DECODE_FAILURE, 'CNI_DECODE', 'failed to decode network configuration', {
      details: e instanceof Error ? e.message : String(e),
      hint: 'stdin must be one JSON object (the plugin configuration)',
    });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new CniError(CniCode.DECODE_FAILURE, 'CNI_DECODE', 'failed to decode network configuration: not a JSON object', {
      hint: 'stdin must be one JSON object (the plugin configuration)',
    });
  }
  return v as Record<string, unknown>;
}

/** The `cniVersion` to echo in an error when the config could be read at least that far. */
export function versionForErrors(raw: Record<string, unknown> | undefined): string | undefined {
  const v = raw?.['cniVersion'];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function parseNetConf(raw: Record<string, unknown>, command: CniCommand): NetConf {
  const cniVersion = raw['cniVersion'];
  if (typeof cniVersion !== 'string' || cniVersion === '') {
    throw invalid('"cniVersion" is missing or not a string');
  }
  if (!isSupportedVersion(cniVersion)) {
    throw new CniError(CniCode.INCOMPATIBLE_VERSION, 'CNI_INCOMPATIBLE_VERSION', `incompatible CNI version ${cniVersion}`, {
      details: `this plugin supports ${SUPPORTED_VERSIONS.join(', ')}`,
      hint: 'set "cniVersion" in the network configuration to one of the supported versions',
    });
  }
  if (command === 'CHECK' && compareVersions(cniVersion, '0.4.0') < 0) {
    throw new CniError(CniCode.INCOMPATIBLE_VERSION, 'CNI_INCOMPATIBLE_VERSION', `config version ${cniVersion} does not allow CHECK`, {
      details: 'CHECK exists since CNI 0.4.0',
      hint: 'use cniVersion 0.4.0 or later to run CHECK',
    });
  }
  const name = raw['name'];
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw invalid(`"name" must be a string starting with an alphanumeric character followed by [A-Za-z0-9_.-] (got ${JSON.stringify(name)})`);
  }
  const type = raw['type'];
  if (typeof type !== 'string' || type === '') throw invalid('"type" is missing');

  const socketPath = raw['socket-path'] ?? DEFAULT_SOCKET_PATH;
  if (typeof socketPath !== 'string' || socketPath === '') throw invalid('"socket-path" must be a non-empty string');

  const mtu = raw['mtu'] ?? 1500;
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw invalid(`"mtu" must be an integer between 68 and 65535 (got ${JSON.stringify(mtu)})`);
  }
  const enableDebug = raw['enable-debug'] ?? false;
  if (typeof enableDebug !== 'boolean') throw invalid('"enable-debug" must be a boolean');
  const logFile = raw['log-file'];
  if (logFile !== undefined && (typeof logFile !== 'string' || logFile === '')) throw invalid('"log-file" must be a non-empty string');

  // We own IPAM through the agent and do not run as a chained plugin: refuse what we cannot honour.
  const ipam = raw['ipam'];
  if (ipam !== undefined && ipam !== null) {
    if (typeof ipam !== 'object' || Array.isArray(ipam)) throw invalid('"ipam" must be an object');
    const t = (ipam as Record<string, unknown>)['type'];
    if (t !== undefined && t !== '') {
      throw unsupported('ipam.type', t, 'IPAM is done by cilium-agent; delegated IPAM plugins are not supported');
    }
  }
  const chaining = raw['chaining-mode'];
  if (chaining !== undefined && chaining !== 'none' && chaining !== '') {
    throw unsupported('chaining-mode', chaining, 'only chaining-mode "none" is supported');
  }

  const prev = raw['prevResult'];
  if (prev !== undefined && prev !== null && (typeof prev !== 'object' || Array.isArray(prev))) {
    throw invalid('"prevResult" must be an object');
  }

  let validAttachments: Attachment[] | undefined;
  const va = raw['cni.dev/valid-attachments'] ?? raw['cni.dev/attachments'];
  if (va !== undefined && va !== null) {
    if (!Array.isArray(va)) throw invalid('"cni.dev/valid-attachments" must be an array');
    validAttachments = va.map((a, i) => {
      const o = a as Record<string, unknown> | null;
      if (!o || typeof o !== 'object' || typeof o['containerID'] !== 'string' || typeof o['ifname'] !== 'string') {
        throw invalid(`"cni.dev/valid-attachments"[${i}] must be {"containerID": string, "ifname": string}`);
      }
      return { containerID: o['containerID'], ifname: o['ifname'] };
    });
  }

  return {
    cniVersion,
    name,
    type,
    socketPath,
    mtu,
    enableDebug,
    logFile: logFile as string | undefined,
    prevResult: (prev ?? undefined) as Record<string, unknown> | undefined,
    validAttachments,
    raw,
  };
}

function invalid(why: string): CniError {
  return new CniError(CniCode.INVALID_CONFIG, 'CNI_INVALID_CONFIG', `invalid network configuration: ${why}`, {
    hint: 'fix the plugin entry in the CNI conflist (e.g. /etc/cni/net.d/05-cilium.conflist)',
  });
}

function unsupported(key: string, value: unknown, why: string): CniError {
  return new CniError(CniCode.UNSUPPORTED_FIELD, 'CNI_UNSUPPORTED_FIELD', `unsupported field in network configuration: ${key}=${JSON.stringify(value)}`, {
    details: why,
    hint: `remove "${key}" from the cilium-cni plugin configuration`,
  });
}
