// Operator settings: flags > the mounted cilium-config ConfigMap directory (--config-dir, one file per key,
// as Kubernetes projects a ConfigMap) > defaults. Keys as in Cilium: cluster-pool-ipv4-cidr (space or comma
// separated list; the 1.10 single-CIDR spelling is the same key with one value), cluster-pool-ipv4-mask-size,
// identity-gc-interval, leader-election-namespace, health-port, enable-lb-ipam (LB-IPAM for Services of type
// LoadBalancer from CiliumLoadBalancerIPPools; default true) and default-lb-service-ipam (lbipam: Services
// without a loadBalancerClass are LB-IPAM's; nodeipam or none: they are not).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export class ConfigError extends Error {
  readonly code = 'EOPERATORCONFIG';
  readonly hint: string;
  constructor(message: string, hint: string) {
    super(message);
    this.name = 'ConfigError';
    this.hint = hint;
  }
}

export interface OperatorConfig {
  kubeconfig: string | undefined;
  clusterPoolIPv4CIDRs: string[];
  clusterPoolIPv4MaskSize: number;
  identityGcIntervalMs: number;
  /** CiliumEndpoint GC interval (defaults to the identity GC interval). */
  endpointGcIntervalMs: number;
  leaderElectionNamespace: string;
  leaderElectionLeaseName: string;
  healthPort: number;
  healthAddress: string;
  logLevel: string;
  /** Register CRDs at start (default true). */
  registerCrds: boolean;
  /** Run the LB-IPAM controller (enable-lb-ipam, default true; dormant until a pool exists). */
  enableLbIpam: boolean;
  /** Services without spec.loadBalancerClass get LB-IPAM IPs (default-lb-service-ipam=lbipam, the default). */
  lbIpamDefault: boolean;
}

export interface OperatorFlags {
  kubeconfig?: string | undefined;
  clusterPoolIpv4Cidr?: string | undefined;
  clusterPoolIpv4MaskSize?: string | undefined;
  identityGcInterval?: string | undefined;
  leaderElectionNamespace?: string | undefined;
  leaderElectionLeaseName?: string | undefined;
  healthPort?: string | undefined;
  healthAddress?: string | undefined;
  configDir?: string | undefined;
  logLevel?: string | undefined;
  skipCrdCreation?: boolean | undefined;
  /** --enable-lb-ipam[=true|false] */
  enableLbIpam?: string | boolean | undefined;
  defaultLbServiceIpam?: string | undefined;
  /** --debug[=true|false]; the chart passes --debug=$(CILIUM_DEBUG), which may be empty. */
  debug?: string | boolean | undefined;
}

/** Go duration ("15m0s", "1h", "500ms", "30s") or plain seconds -> milliseconds. */
export function parseDuration(s: string): number {
  const t = s.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };
  let total = 0;
  let rest = t;
  const re = /^(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/;
  if (!rest) throw new ConfigError('empty duration', 'write a Go duration like 15m0s');
  while (rest) {
    const m = re.exec(rest);
    if (!m) throw new ConfigError(`invalid duration "${s}"`, 'write a Go duration like 15m0s, 30s or 500ms');
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** Reads a ConfigMap volume: one file per key (skips the ..data symlink machinery). */
export function readConfigDir(dir: string): Record<string, string> {
  if (!existsSync(dir)) throw new ConfigError(`config dir ${dir} does not exist`, 'mount the cilium-config ConfigMap there or drop --config-dir');
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    if (name.startsWith('..')) continue;
    const p = join(dir, name);
    if (!statSync(p).isFile()) continue;
    out[name] = readFileSync(p, 'utf8').trim();
  }
  return out;
}

function bool(v: string | boolean | undefined, what: string): boolean | undefined {
  if (v === undefined || v === '') return undefined;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw new ConfigError(`invalid ${what} "${String(v)}"`, 'use true or false');
}

function splitList(s: string): string[] {
  return s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
}

function int(s: string, what: string, min: number, max: number): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`invalid ${what} "${s}"`, `use an integer ${min}..${max}`);
  return n;
}

export function loadOperatorConfig(f: OperatorFlags): OperatorConfig {
  const dir = f.configDir ? readConfigDir(f.configDir) : {};
  const pick = (flag: string | undefined, key: string): string | undefined => flag ?? dir[key];
  const cidr = pick(f.clusterPoolIpv4Cidr, 'cluster-pool-ipv4-cidr') ?? '10.0.0.0/8';
  const mask = pick(f.clusterPoolIpv4MaskSize, 'cluster-pool-ipv4-mask-size') ?? '24';
  const gc = pick(f.identityGcInterval, 'identity-gc-interval') ?? '15m0s';
  const gcMs = parseDuration(gc);
  const cidrs = splitList(cidr);
  // operator-api-serve-addr "127.0.0.1:9234" (Cilium's key; the chart renders it from operator.healthPort).
  const serveAddr = dir['operator-api-serve-addr'];
  const serve: { host?: string; port?: string } = {};
  if (serveAddr) {
    const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(serveAddr);
    if (!m) throw new ConfigError(`invalid operator-api-serve-addr "${serveAddr}"`, 'write host:port, e.g. 127.0.0.1:9234');
    if (m[1]) serve.host = m[1];
    serve.port = m[2]!;
  }
  const debugFlag = f.debug === true || f.debug === 'true' ? true : f.debug === 'false' ? false : undefined;
  const debug = debugFlag ?? dir['debug'] === 'true';
  const lbDefault = pick(f.defaultLbServiceIpam, 'default-lb-service-ipam') ?? 'lbipam';
  if (!['lbipam', 'nodeipam', 'none'].includes(lbDefault)) throw new ConfigError(`invalid default-lb-service-ipam "${lbDefault}"`, 'use lbipam, nodeipam or none');
  if (cidrs.length === 0) throw new ConfigError('cluster-pool-ipv4-cidr is empty', 'set at least one CIDR, e.g. 10.0.0.0/8');
  return {
    kubeconfig: f.kubeconfig,
    clusterPoolIPv4CIDRs: cidrs,
    clusterPoolIPv4MaskSize: int(mask, 'cluster-pool-ipv4-mask-size', 1, 32),
    identityGcIntervalMs: gcMs,
    endpointGcIntervalMs: dir['endpoint-gc-interval'] ? parseDuration(dir['endpoint-gc-interval']) : gcMs,
    leaderElectionNamespace: pick(f.leaderElectionNamespace, 'leader-election-namespace') ?? process.env['CILIUM_K8S_NAMESPACE'] ?? 'kube-system',
    leaderElectionLeaseName: f.leaderElectionLeaseName ?? 'cilium-operator-resource-lock',
    healthPort: int(f.healthPort ?? serve.port ?? '9234', 'health port', 0, 65535),
    healthAddress: f.healthAddress ?? serve.host ?? '0.0.0.0',
    logLevel: f.logLevel ?? (debug ? 'debug' : (dir['log-level'] ?? 'info')),
    registerCrds: !(f.skipCrdCreation ?? dir['skip-crd-creation'] === 'true'),
    enableLbIpam: bool(f.enableLbIpam, '--enable-lb-ipam') ?? bool(dir['enable-lb-ipam'], 'enable-lb-ipam') ?? true,
    lbIpamDefault: lbDefault === 'lbipam',
  };
}
