// The agent's side of the chart's `cilium-config` ConfigMap: Kubernetes projects it into a directory, one
// file per key (plus `..data` / `..<timestamp>` symlink machinery, skipped). Keys are Cilium's
// (1.10 .. 1.16 spellings); each known key maps onto an agent setting (camelCase, as the flags), the
// operator's and not-yet-implemented keys are accepted and ignored, anything else is ignored with a debug
// log. An invalid value is refused with the key named.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export class ConfigDirError extends Error {
  readonly code = 'AGENT_CONFIG_INVALID';
  constructor(
    message: string,
    readonly hint: string,
    readonly key?: string,
  ) {
    super(message);
    this.name = 'ConfigDirError';
  }
}

/** Reads a ConfigMap volume: file name -> trimmed content. */
export function readConfigDir(dir: string): Record<string, string> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ConfigDirError(`config dir ${dir} does not exist`, 'mount the cilium-config ConfigMap there, or drop --config-dir');
  }
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    const p = join(dir, name);
    let st;
    try {
      st = statSync(p); // follows the ConfigMap's symlinks
    } catch {
      continue;
    }
    if (!st.isFile()) continue;
    out[name] = readFileSync(p, 'utf8').trim();
  }
  return out;
}

export const KUBE_PROXY_REPLACEMENT_MODES = ['true', 'false', 'strict', 'probe', 'partial', 'disabled'] as const;
export type KubeProxyReplacementMode = (typeof KUBE_PROXY_REPLACEMENT_MODES)[number];

/** Keys of the chart (or of Cilium) that are valid but that this agent does not act on (yet). */
const ACCEPTED_IGNORED = new Set([
  'identity-allocation-mode', 'cluster-id', 'prometheus-serve-addr', 'operator-api-serve-addr', 'operator-prometheus-serve-addr',
  'enable-metrics', 'auto-direct-node-routes',
  'enable-bpf-masquerade', 'kube-proxy-replacement-healthz-bind-address',
  'host-reachable-services-protos', 'enable-policy',
  'monitor-aggregation-interval', 'monitor-aggregation-flags', 'hubble-disable-tls',
  'hubble-metrics-server', 'hubble-metrics', 'cni-exclusive', 'cni-log-file', 'identity-gc-interval',
  'identity-heartbeat-timeout', 'cilium-endpoint-gc-interval', 'endpoint-gc-interval', 'leader-election-namespace',
  'skip-crd-creation', 'custom-cni-conf', 'enable-l7-proxy', 'install-iptables-rules', 'enable-bandwidth-manager',
]);

/** Keys that are our own flags, spelled as in Cilium's config map (same names as the flags). */
const PASSTHROUGH: Record<string, { key: string; type: 'string' | 'int' | 'bool' }> = {
  'state-dir': { key: 'stateDir', type: 'string' },
  'bpf-root': { key: 'bpfRoot', type: 'string' },
  'bpf-dir': { key: 'bpfDir', type: 'string' },
  'socket-path': { key: 'socketPath', type: 'string' },
  'host-device': { key: 'hostDevice', type: 'string' },
  'node-name': { key: 'nodeName', type: 'string' },
  'node-ip': { key: 'nodeIp', type: 'string' },
  'pod-cidr': { key: 'podCidr', type: 'string' },
  'tunnel-device': { key: 'tunnelDevice', type: 'string' },
  'tunnel-port': { key: 'tunnelPort', type: 'int' },
  'ct-gc-interval': { key: 'ctGcIntervalSeconds', type: 'int' },
  'k8s-kubeconfig-path': { key: 'k8sKubeconfigPath', type: 'string' },
  'k8s-namespace': { key: 'k8sNamespace', type: 'string' },
  'agent-health-port': { key: 'agentHealthPort', type: 'int' },
  'cluster-name': { key: 'clusterName', type: 'string' },
  'hubble-socket-path': { key: 'hubbleSocketPath', type: 'string' },
  'hubble-listen-address': { key: 'hubbleListenAddress', type: 'string' },
  'enable-ipv4-masquerade': { key: 'enableIpv4Masquerade', type: 'bool' },
  // kube-proxy replacement (Helm: kubeProxyReplacement, nodePort.*, hostPort.*, externalIPs.*, hostServices.*,
  // socketLB.*, loadBalancer.*, cgroup.hostRoot)
  'enable-node-port': { key: 'enableNodePort', type: 'bool' },
  'enable-host-port': { key: 'enableHostPort', type: 'bool' },
  'enable-external-ips': { key: 'enableExternalIps', type: 'bool' },
  'enable-host-reachable-services': { key: 'enableHostReachableServices', type: 'bool' },
  'bpf-lb-sock': { key: 'bpfLbSock', type: 'bool' },
  'enable-session-affinity': { key: 'enableSessionAffinity', type: 'bool' },
  'bpf-lb-maglev-hash-seed': { key: 'bpfLbMaglevHashSeed', type: 'string' },
  'bpf-lb-sock-detach-on-shutdown': { key: 'bpfLbSockDetachOnShutdown', type: 'bool' },
  'cgroup-root': { key: 'cgroupRoot', type: 'string' },
  'enable-ipv4-fragment-tracking': { key: 'enableIpv4FragmentTracking', type: 'bool' },
};

export interface ConfigDirResult {
  /** Agent settings (camelCase keys, as the flags of loadAgentConfig). */
  settings: Record<string, unknown>;
  /** Keys that were not recognised at all (logged at debug level by the caller). */
  unknown: string[];
  /** Keys that were recognised but have no effect in this agent. */
  ignored: string[];
}

const bad = (key: string, value: string, expected: string): ConfigDirError =>
  new ConfigDirError(`invalid value "${value}" for cilium-config key "${key}": expected ${expected}`, `fix "${key}" in the cilium-config ConfigMap (or the Helm value that renders it)`, key);

function bool(key: string, v: string): boolean {
  const t = v.toLowerCase();
  if (t === 'true') return true;
  if (t === 'false') return false;
  throw bad(key, v, 'true or false');
}

function int(key: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v)) throw bad(key, v, `an integer ${min}..${max}`);
  const n = Number(v);
  if (n < min || n > max) throw bad(key, v, `an integer ${min}..${max}`);
  return n;
}

function ipv4Cidr(key: string, v: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(v);
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) throw bad(key, v, 'IPv4 CIDRs such as 10.0.0.0/8');
  return v;
}

/** Maps a cilium-config key/value map onto agent settings. Throws ConfigDirError naming the key. */
export function configMapToSettings(map: Record<string, string>): ConfigDirResult {
  const s: Record<string, unknown> = {};
  const unknown: string[] = [];
  const ignored: string[] = [];
  const has = (k: string): boolean => map[k] !== undefined && map[k] !== '';
  for (const [key, raw] of Object.entries(map)) {
    const v = raw.trim();
    switch (key) {
      case 'debug':
        if (bool(key, v)) s['logLevel'] = 'debug';
        break;
      case 'log-level':
        if (!['debug', 'info', 'warn', 'error'].includes(v)) throw bad(key, v, 'debug, info, warn or error');
        s['logLevel'] = v;
        break;
      case 'enable-ipv4':
        if (!bool(key, v)) throw new ConfigDirError('cilium-config key "enable-ipv4" is false: this agent has only an IPv4 datapath', 'set ipv4.enabled=true', key);
        break;
      case 'enable-ipv6':
        if (bool(key, v)) throw new ConfigDirError('cilium-config key "enable-ipv6" is true: IPv6 is not supported by this agent', 'set ipv6.enabled=false', key);
        break;
      case 'ipam':
        if (v !== 'cluster-pool' && v !== 'kubernetes') throw bad(key, v, 'cluster-pool or kubernetes');
        s['ipamMode'] = v;
        break;
      case 'cluster-pool-ipv4-cidr': {
        const list = v.split(/[\s,]+/).filter(Boolean);
        if (list.length === 0) throw bad(key, v, 'one or more IPv4 CIDRs');
        s['clusterPoolIpv4Cidr'] = list.map((c) => ipv4Cidr(key, c));
        break;
      }
      case 'cluster-pool-ipv4-mask-size':
        s['clusterPoolIpv4MaskSize'] = int(key, v, 1, 32);
        break;
      case 'routing-mode':
        if (v !== 'tunnel' && v !== 'native') throw bad(key, v, 'tunnel or native');
        s['routingMode'] = v;
        break;
      case 'tunnel':
        // 1.10: vxlan | geneve | disabled; routing-mode / tunnel-protocol win when also given.
        if (v !== 'vxlan' && v !== 'geneve' && v !== 'disabled') throw bad(key, v, 'vxlan, geneve or disabled');
        if (!has('routing-mode')) s['routingMode'] = v === 'disabled' ? 'native' : 'tunnel';
        if (v !== 'disabled' && !has('tunnel-protocol')) {
          if (v === 'geneve') throw new ConfigDirError('cilium-config key "tunnel" is geneve: this kernel has no geneve support', 'use tunnel=vxlan (or routingMode=tunnel, tunnelProtocol=vxlan)', key);
          s['tunnelProtocol'] = v;
        }
        break;
      case 'tunnel-protocol':
        if (v === 'geneve') {
          // Only matters in tunnel mode: a native-routing install never opens a tunnel.
          const mode = map['routing-mode'] ?? (map['tunnel'] === 'disabled' ? 'native' : 'tunnel');
          if (mode !== 'native') throw new ConfigDirError('cilium-config key "tunnel-protocol" is geneve: this kernel has no geneve support', 'set tunnelProtocol=vxlan', key);
          break;
        }
        if (v !== 'vxlan') throw bad(key, v, 'vxlan or geneve');
        s['tunnelProtocol'] = v;
        break;
      case 'kube-proxy-replacement': {
        const m = v.toLowerCase();
        if (!(KUBE_PROXY_REPLACEMENT_MODES as readonly string[]).includes(m)) throw bad(key, v, KUBE_PROXY_REPLACEMENT_MODES.join(', '));
        s['kubeProxyReplacement'] = m;
        break;
      }
      case 'bpf-lb-algorithm':
        if (v !== 'random' && v !== 'maglev') throw bad(key, v, 'random or maglev');
        s['bpfLbAlgorithm'] = v;
        break;
      case 'bpf-lb-mode':
        if (v !== 'snat' && v !== 'dsr' && v !== 'hybrid') throw bad(key, v, 'snat, dsr or hybrid');
        s['bpfLbMode'] = v;
        break;
      case 'node-port-range': {
        const m = /^(\d{1,5})[-,](\d{1,5})$/.exec(v);
        const [lo, hi] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
        if (!m || lo < 1 || hi > 65535 || lo > hi) throw bad(key, v, '"min-max" with 1 <= min <= max <= 65535, e.g. 30000-32767');
        s['nodePortRange'] = `${lo}-${hi}`;
        break;
      }
      case 'bpf-lb-maglev-table-size':
        // The Maglev table size is fixed by the datapath's map layout (LB_MAGLEV_LUT_SIZE).
        if (v !== '16381') throw new ConfigDirError(`cilium-config key "bpf-lb-maglev-table-size" is ${v}: this datapath's Maglev tables have 16381 entries`, 'remove maglev.tableSize (or set it to 16381)', key);
        break;
      case 'devices':
        s['devices'] = v.split(/[\s,]+/).filter(Boolean);
        break;
      case 'ipv4-native-routing-cidr':
      case 'native-routing-cidr':
        // 1.16 name wins over the 1.10 one
        if (key === 'ipv4-native-routing-cidr' || !has('ipv4-native-routing-cidr')) s['ipv4NativeRoutingCidr'] = ipv4Cidr(key, v);
        break;
      case 'enable-hubble':
        s['enableHubble'] = bool(key, v);
        break;
      case 'monitor-aggregation': {
        const m = v.toLowerCase();
        if (!['none', 'low', 'medium', 'maximum'].includes(m)) throw bad(key, v, 'none, low, medium or maximum');
        // The datapath has two levels: report everything, or new connections / new TCP flags / drops.
        s['monitorAggregation'] = m === 'none' ? 'none' : 'medium';
        break;
      }
      default: {
        const p = PASSTHROUGH[key];
        if (p) {
          if (p.type === 'int') s[p.key] = int(key, v, 0, 2 ** 31 - 1);
          else if (p.type === 'bool') s[p.key] = bool(key, v);
          else s[p.key] = v;
        } else if (ACCEPTED_IGNORED.has(key)) {
          ignored.push(key);
        } else {
          unknown.push(key);
        }
      }
    }
  }
  return { settings: s, unknown, ignored };
}
