/**
 * CNI as containerd (go-cni + libcni) calls it: the first network config in the conf dir in lexical order
 * (`.conf`, `.conflist`, `.json`; a `.conf` is a one-plugin list), each plugin of the list exec'ed from the
 * bin dir with the CNI_* environment and its config on stdin (`name` and `cniVersion` of the list injected,
 * `prevResult` chained from the plugin before, `runtimeConfig` for the capabilities it declares). DEL runs
 * the list in reverse with the cached ADD result as `prevResult` (from 0.4.0 on). The loopback network is
 * not exec'ed: the kubelet sets `lo` up itself.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeletError } from './kubelet-error.js';

export interface CniPluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface CniNetworkList {
  /** The file it came from. */
  file: string;
  name: string;
  cniVersion: string;
  disableCheck: boolean;
  plugins: CniPluginConf[];
}

const CONF_EXTENSIONS = ['.conf', '.conflist', '.json'];

/** Conf files in lexical order, as libcni.ConfFiles + sort.Strings. */
export function cniConfFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => CONF_EXTENSIONS.some((e) => n.endsWith(e))).sort().map((n) => join(dir, n));
}

/** Parses one conf file into a network list (a single-plugin `.conf` becomes a list of one). */
export function parseCniConf(file: string, text: string): CniNetworkList {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new KubeletError('CNI_CONF_INVALID', `${file}: not JSON (${(e as Error).message})`, 'fix or remove the file');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new KubeletError('CNI_CONF_INVALID', `${file}: not a JSON object`, 'fix or remove the file');
  }
  const o = raw as Record<string, unknown>;
  const name = typeof o['name'] === 'string' ? o['name'] : '';
  const cniVersion = typeof o['cniVersion'] === 'string' ? o['cniVersion'] : '0.1.0';
  if (name === '') throw new KubeletError('CNI_CONF_INVALID', `${file}: no "name"`, 'a network config needs a name');
  let plugins: unknown[];
  if (file.endsWith('.conflist') || Array.isArray(o['plugins'])) {
    if (!Array.isArray(o['plugins']) || o['plugins'].length === 0) {
      throw new KubeletError('CNI_CONF_INVALID', `${file}: "plugins" is missing or empty`, 'a .conflist needs at least one plugin');
    }
    plugins = o['plugins'];
  } else {
    plugins = [o];
  }
  const out: CniPluginConf[] = [];
  for (const [i, p] of plugins.entries()) {
    if (typeof p !== 'object' || p === null || typeof (p as Record<string, unknown>)['type'] !== 'string') {
      throw new KubeletError('CNI_CONF_INVALID', `${file}: plugin ${i} has no "type"`, 'each plugin needs a "type"');
    }
    out.push(p as CniPluginConf);
  }
  return { file, name, cniVersion, disableCheck: o['disableCheck'] === true, plugins: out };
}

/** The network containerd would use: the first file of the dir that parses (max_conf_num = 1). */
export function loadCniNetwork(dir: string): { network: CniNetworkList | undefined; error: string | undefined } {
  const files = cniConfFiles(dir);
  if (files.length === 0) return { network: undefined, error: undefined };
  const errors: string[] = [];
  for (const f of files) {
    try {
      return { network: parseCniConf(f, readFileSync(f, 'utf8')), error: undefined };
    } catch (e) {
      errors.push(e instanceof KubeletError ? e.message : `${f}: ${(e as Error).message}`);
    }
  }
  return { network: undefined, error: errors.join('; ') };
}

export interface CniPodInfo {
  namespace: string;
  name: string;
  uid: string;
  sandboxId: string;
  netnsPath: string;
  ifname?: string;
}

/** Capability args containerd offers (a plugin gets the ones it declares under `capabilities`). */
export interface CniCapabilityArgs {
  portMappings?: Array<{ hostPort: number; containerPort: number; protocol: string; hostIP?: string }>;
  dns?: { servers: string[]; searches: string[]; options: string[] };
  cgroupPath?: string;
  'io.kubernetes.cri.pod-annotations'?: Record<string, string>;
  [key: string]: unknown;
}

export function cniArgs(pod: CniPodInfo): string {
  return `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.sandboxId};K8S_POD_UID=${pod.uid}`;
}

export function cniEnv(command: string, pod: CniPodInfo, binDir: string, basePath: string): Record<string, string> {
  return {
    PATH: basePath,
    CNI_COMMAND: command,
    CNI_CONTAINERID: pod.sandboxId,
    CNI_NETNS: pod.netnsPath,
    CNI_IFNAME: pod.ifname ?? 'eth0',
    CNI_ARGS: cniArgs(pod),
    CNI_PATH: binDir,
  };
}

function versionAtLeast(v: string, min: string): boolean {
  const a = v.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const b = min.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

/** The stdin of one plugin: its conf with the list's name/cniVersion, runtimeConfig and prevResult. */
export function pluginStdin(
  list: CniNetworkList,
  plugin: CniPluginConf,
  o: { command: string; prevResult?: unknown; capabilityArgs?: CniCapabilityArgs },
): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  const caps = plugin.capabilities ?? {};
  const rc: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o.capabilityArgs ?? {})) if (caps[k] === true && v !== undefined) rc[k] = v;
  if (Object.keys(rc).length > 0) conf['runtimeConfig'] = { ...((plugin['runtimeConfig'] as Record<string, unknown> | undefined) ?? {}), ...rc };
  const chained = o.command === 'ADD' || versionAtLeast(list.cniVersion, '0.4.0');
  if (o.prevResult !== undefined && chained) conf['prevResult'] = o.prevResult;
  else delete conf['prevResult'];
  return conf;
}

export interface CniExec {
  /** argv prefix the plugin path is appended to (e.g. an `unshare` wrapper giving the node's mount view). */
  wrapper: string[];
  binDir: string;
  basePath: string;
  timeoutMs: number;
}

export interface CniCallRecord {
  plugin: string;
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
}

function execPlugin(x: CniExec, type: string, env: Record<string, string>, stdin: string): Promise<CniCallRecord> {
  const bin = join(x.binDir, type);
  const [cmd, ...args] = [...x.wrapper, bin];
  return new Promise((resolve) => {
    const p = spawn(cmd!, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const t = setTimeout(() => p.kill('SIGKILL'), x.timeoutMs);
    p.stdout.on('data', (c: Buffer) => out.push(c));
    p.stderr.on('data', (c: Buffer) => err.push(c));
    p.on('error', (e) => err.push(Buffer.from(String(e))));
    p.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ plugin: type, command: env['CNI_COMMAND'] ?? '', exitCode: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    p.stdin.on('error', () => undefined);
    p.stdin.end(stdin);
  });
}

/** The plugin's error message: the CNI error document on stdout, else stderr. */
export function cniFailure(r: CniCallRecord): string {
  try {
    const e = JSON.parse(r.stdout) as { code?: number; msg?: string; details?: string };
    if (e.msg) return `plugin type="${r.plugin}" failed (${r.command.toLowerCase()}): ${e.msg}${e.details ? `: ${e.details}` : ''} (code ${e.code ?? '?'})`;
  } catch {
    // not JSON
  }
  const tail = (r.stderr.trim() || r.stdout.trim() || `exit ${r.exitCode}`).split('\n').slice(-5).join(' | ');
  return `plugin type="${r.plugin}" failed (${r.command.toLowerCase()}): ${tail}`;
}

/** ADD through the list; the last plugin's result is the network's. Throws on the first failure. */
export async function cniAdd(x: CniExec, list: CniNetworkList, pod: CniPodInfo, caps: CniCapabilityArgs = {}): Promise<Record<string, unknown>> {
  let prev: unknown;
  for (const plugin of list.plugins) {
    const stdin = pluginStdin(list, plugin, { command: 'ADD', prevResult: prev, capabilityArgs: caps });
    const r = await execPlugin(x, plugin.type, cniEnv('ADD', pod, x.binDir, x.basePath), JSON.stringify(stdin));
    if (r.exitCode !== 0) throw new KubeletError('CNI_ADD_FAILED', cniFailure(r), `see the plugin's log; network ${list.name} from ${list.file}`);
    try {
      prev = JSON.parse(r.stdout);
    } catch {
      throw new KubeletError('CNI_ADD_FAILED', `plugin type="${plugin.type}" printed no JSON result: ${r.stdout.slice(0, 200)}`, 'a CNI plugin must print its result on stdout');
    }
  }
  return (prev ?? {}) as Record<string, unknown>;
}

/** DEL through the list in reverse; every plugin runs, the first failure is thrown at the end. */
export async function cniDel(x: CniExec, list: CniNetworkList, pod: CniPodInfo, prevResult: unknown, caps: CniCapabilityArgs = {}): Promise<void> {
  let first: KubeletError | undefined;
  for (const plugin of [...list.plugins].reverse()) {
    const stdin = pluginStdin(list, plugin, { command: 'DEL', prevResult, capabilityArgs: caps });
    const r = await execPlugin(x, plugin.type, cniEnv('DEL', pod, x.binDir, x.basePath), JSON.stringify(stdin));
    if (r.exitCode !== 0 && !first) first = new KubeletError('CNI_DEL_FAILED', cniFailure(r), `network ${list.name} from ${list.file}`);
  }
  if (first) throw first;
}

/** The pod IPs of an ADD result: the addresses on CNI_IFNAME in the sandbox (all, when no interface is named). */
export function resultPodIps(result: Record<string, unknown>, ifname = 'eth0'): string[] {
  const ifaces = (result['interfaces'] as Array<{ name?: string; sandbox?: string }> | undefined) ?? [];
  const ips = (result['ips'] as Array<{ address?: string; interface?: number; version?: string }> | undefined) ?? [];
  const out: string[] = [];
  for (const ip of ips) {
    if (!ip.address) continue;
    if (ip.interface !== undefined) {
      const i = ifaces[ip.interface];
      if (i && (i.name !== ifname || !i.sandbox)) continue;
    }
    out.push(ip.address.split('/')[0]!);
  }
  // IPv4 first, as the kubelet orders podIPs by the cluster's primary family.
  return [...out.filter((a) => !a.includes(':')), ...out.filter((a) => a.includes(':'))];
}
