// Hubble Relay's settings: the chart's /etc/hubble-relay/config.yaml (upstream key names), overridden by
// flags. TLS keys are read but TLS is not supported: the relay dials peers and serves clients in cleartext
// HTTP/2 (h2c), which is what the chart renders (disable-client-tls / disable-server-tls: true).
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { RelayError } from './relay-error.js';

export interface RelayConfig {
  clusterName: string;
  /** host:port of the peer service (DNS names resolved normally), or unix:///path/to/hubble.sock. */
  peerService: string;
  /** host:port to serve observer.Observer on; empty host: every address. */
  listenAddress: string;
  dialTimeoutMs: number;
  retryTimeoutMs: number;
  sortBufferLenMax: number;
  sortBufferDrainTimeoutMs: number;
  /** TLS was asked for somewhere (not supported: reported once at start). */
  tlsRequested: string[];
}

export const DEFAULT_RELAY_CONFIG: RelayConfig = {
  clusterName: 'default',
  peerService: 'unix:///var/run/cilium/hubble.sock',
  listenAddress: ':4245',
  dialTimeoutMs: 5000,
  retryTimeoutMs: 30_000,
  sortBufferLenMax: 100,
  sortBufferDrainTimeoutMs: 1000,
  tlsRequested: [],
};

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration ("5s", "1m30s", "500ms") -> milliseconds; a bare number is seconds. */
export function parseGoDuration(text: string, key: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let ms = 0;
  let pos = 0;
  while (pos < t.length) {
    re.lastIndex = pos;
    const m = re.exec(t);
    if (!m) throw new RelayError('RELAY_CONFIG_INVALID', `invalid duration "${text}" for ${key}`, 'use a Go duration such as 5s, 500ms or 1m30s');
    ms += Number(m[1]) * UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (t === '') throw new RelayError('RELAY_CONFIG_INVALID', `empty duration for ${key}`, 'use a Go duration such as 5s');
  return ms;
}

export interface RelayFlags {
  config?: string | undefined;
  peerService?: string | undefined;
  listenAddress?: string | undefined;
  dialTimeout?: string | undefined;
  retryTimeout?: string | undefined;
  sortBufferLenMax?: string | undefined;
  sortBufferDrainTimeout?: string | undefined;
  clusterName?: string | undefined;
}

/** Reads the config file (if any; a missing default file is fine), then applies the flags. */
export function loadRelayConfig(flags: RelayFlags, defaultConfigPath = '/etc/hubble-relay/config.yaml'): RelayConfig {
  const c: RelayConfig = { ...DEFAULT_RELAY_CONFIG, tlsRequested: [] };
  const path = flags.config ?? defaultConfigPath;
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (flags.config !== undefined) {
      throw new RelayError('RELAY_CONFIG_READ', `cannot read config file ${path}: ${e instanceof Error ? e.message : String(e)}`, 'pass --config with a readable YAML file (the chart mounts /etc/hubble-relay/config.yaml)');
    }
  }
  let file: Record<string, unknown> = {};
  if (text !== undefined) {
    let raw: unknown;
    try {
      raw = parseYaml(text);
    } catch (e) {
      throw new RelayError('RELAY_CONFIG_INVALID', `config file ${path} is not YAML: ${e instanceof Error ? e.message : String(e)}`, 'fix the hubble-relay-config ConfigMap');
    }
    if (raw !== null && raw !== undefined) {
      if (typeof raw !== 'object' || Array.isArray(raw)) throw new RelayError('RELAY_CONFIG_INVALID', `config file ${path} is not a mapping`, 'write key: value lines such as `peer-service: hubble-peer:80`');
      file = raw as Record<string, unknown>;
    }
  }
  const str = (k: string): string | undefined => {
    const v = file[k];
    return v === undefined || v === null ? undefined : String(v);
  };
  const set = (key: string, flag: string | undefined, apply: (v: string) => void): void => {
    const v = flag ?? str(key);
    if (v !== undefined && v !== '') apply(v);
  };
  set('cluster-name', flags.clusterName, (v) => (c.clusterName = v));
  set('peer-service', flags.peerService, (v) => (c.peerService = v));
  const listen = flags.listenAddress ?? str('listen-address');
  if (listen !== undefined) c.listenAddress = listen;
  set('dial-timeout', flags.dialTimeout, (v) => (c.dialTimeoutMs = parseGoDuration(v, 'dial-timeout')));
  set('retry-timeout', flags.retryTimeout, (v) => (c.retryTimeoutMs = parseGoDuration(v, 'retry-timeout')));
  set('sort-buffer-len-max', flags.sortBufferLenMax, (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new RelayError('RELAY_CONFIG_INVALID', `invalid sort-buffer-len-max "${v}"`, 'use a positive integer');
    c.sortBufferLenMax = n;
  });
  set('sort-buffer-drain-timeout', flags.sortBufferDrainTimeout, (v) => (c.sortBufferDrainTimeoutMs = parseGoDuration(v, 'sort-buffer-drain-timeout')));
  for (const k of ['disable-client-tls', 'disable-server-tls']) {
    const v = str(k);
    if (v !== undefined && v.toLowerCase() === 'false') c.tlsRequested.push(k);
  }
  for (const k of ['tls-relay-server-cert-file', 'tls-hubble-client-cert-file', 'tls-relay-client-cert-file']) if (str(k)) c.tlsRequested.push(k);
  return c;
}
