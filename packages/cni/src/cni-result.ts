/**
 * The ADD success result (spec Section 5) in one internal shape, printed per requested version:
 * 1.x results have `interfaces[].mtu` and no `ips[].version`; 0.3.x/0.4.0 results have
 * `ips[].version` ("4"/"6") and no `mtu` (as libcni's down-conversion does).
 */
import { compareVersions, isLegacyResultVersion } from './cni-version.js';

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface CniIpConfig {
  address: string;
  gateway?: string;
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  interfaces: CniInterface[];
  ips: CniIpConfig[];
  routes: CniRoute[];
  dns: CniDns;
}

/** Renders `r` as the JSON object a plugin prints for `cniVersion`. */
export function formatResult(r: CniResult, cniVersion: string): Record<string, unknown> {
  const legacy = isLegacyResultVersion(cniVersion);
  const v11 = compareVersions(cniVersion, '1.1.0') >= 0;
  const interfaces = r.interfaces.map((i) => {
    const o: Record<string, unknown> = { name: i.name };
    if (i.mac) o['mac'] = i.mac;
    if (!legacy && i.mtu !== undefined) o['mtu'] = i.mtu;
    if (i.sandbox) o['sandbox'] = i.sandbox;
    if (v11 && i.socketPath) o['socketPath'] = i.socketPath;
    if (v11 && i.pciID) o['pciID'] = i.pciID;
    return o;
  });
  const ips = r.ips.map((ip) => {
    const o: Record<string, unknown> = {};
    if (legacy) o['version'] = ip.address.includes(':') ? '6' : '4';
    if (ip.interface !== undefined) o['interface'] = ip.interface;
    o['address'] = ip.address;
    if (ip.gateway) o['gateway'] = ip.gateway;
    return o;
  });
  const routes = r.routes.map((rt) => {
    const o: Record<string, unknown> = { dst: rt.dst };
    if (rt.gw) o['gw'] = rt.gw;
    if (!legacy) {
      for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) if (rt[k] !== undefined) o[k] = rt[k];
    }
    return o;
  });
  return { cniVersion, interfaces, ips, routes, dns: { ...r.dns } };
}

/** Reads a `prevResult` of any supported version into the internal shape (unknown fields dropped). */
export function parseResult(obj: Record<string, unknown> | undefined): CniResult {
  const out: CniResult = { interfaces: [], ips: [], routes: [], dns: {} };
  if (!obj) return out;
  const arr = (k: string): Record<string, unknown>[] =>
    Array.isArray(obj[k]) ? (obj[k] as unknown[]).filter((x): x is Record<string, unknown> => !!x && typeof x === 'object') : [];
  const str = (o: Record<string, unknown>, k: string): string | undefined => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  const num = (o: Record<string, unknown>, k: string): number | undefined => (typeof o[k] === 'number' ? (o[k] as number) : undefined);
  for (const i of arr('interfaces')) {
    const name = str(i, 'name');
    if (name === undefined) continue;
    const x: CniInterface = { name };
    for (const k of ['mac', 'sandbox', 'socketPath', 'pciID'] as const) {
      const v = str(i, k);
      if (v !== undefined && v !== '') x[k] = v;
    }
    const mtu = num(i, 'mtu');
    if (mtu !== undefined) x.mtu = mtu;
    out.interfaces.push(x);
  }
  for (const ip of arr('ips')) {
    const address = str(ip, 'address');
    if (address === undefined) continue;
    const x: CniIpConfig = { address };
    const gw = str(ip, 'gateway');
    if (gw) x.gateway = gw;
    const idx = num(ip, 'interface');
    if (idx !== undefined) x.interface = idx;
    out.ips.push(x);
  }
  for (const rt of arr('routes')) {
    const dst = str(rt, 'dst');
    if (dst === undefined) continue;
    const x: CniRoute = { dst };
    const gw = str(rt, 'gw');
    if (gw) x.gw = gw;
    for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) {
      const v = num(rt, k);
      if (v !== undefined) x[k] = v;
    }
    out.routes.push(x);
  }
  const dns = obj['dns'];
  if (dns && typeof dns === 'object') out.dns = { ...(dns as CniDns) };
  return out;
}

/** Appends this plugin's result to a previous plugin's (spec: pass prevResult through, modified). */
export function mergeResults(prev: CniResult, ours: CniResult): CniResult {
  const off = prev.interfaces.length;
  return {
    interfaces: [...prev.interfaces, ...ours.interfaces],
    ips: [...prev.ips, ...ours.ips.map((ip) => (ip.interface === undefined ? ip : { ...ip, interface: ip.interface + off }))],
    routes: [...prev.routes, ...ours.routes],
    dns: Object.keys(ours.dns).length > 0 ? ours.dns : prev.dns,
  };
}
