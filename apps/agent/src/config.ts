import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseCidr } from './ipam/cidr.js';
import { ConfigDirError, configMapToSettings, KUBE_PROXY_REPLACEMENT_MODES, readConfigDir } from './k8s/config-dir.js';

/**
 * Agent settings. Every flag can also be set in a YAML file (`--config-file`) or in the chart's cilium-config
 * ConfigMap directory (`--config-dir`, Cilium's key names); flags > config dir > config file > defaults.
 */
export const agentConfigSchema = z
  .object({
    /** Pod CIDR of this node; required outside Kubernetes mode (in it, the CiliumNode gives it). */
    podCidr: z
      .string()
      .superRefine((v, ctx) => {
        try {
          parseCidr(v);
        } catch (e) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: e instanceof Error ? e.message : String(e) });
        }
      })
      .optional(),
    stateDir: z.string().min(1).default('/var/run/cilium/state'),
    bpfRoot: z.string().min(1).default('/sys/fs/bpf'),
    socketPath: z.string().min(1).default('/var/run/cilium/cilium.sock'),
    hubbleSocketPath: z.string().min(1).default('/var/run/cilium/hubble.sock'),
    /** Hubble's TCP listener for Relay (gRPC h2c, observer + peer services); '' for none. */
    hubbleListenAddress: z.string().default(':4244'),
    hostDevice: z.string().min(1).max(15).default('cilium_host'),
    bpfDir: z.string().min(1).optional(),
    nodeName: z.string().min(1).default(hostname()),
    monitorAggregation: z.enum(['none', 'medium']).default('medium'),
    ctGcIntervalSeconds: z.number().positive().default(30),
    hubbleCapacity: z.number().int().positive().default(4095),
    logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    /** How pods reach other nodes' pods: VXLAN (bpf_overlay) or kernel routes via the node addresses. */
    routingMode: z.enum(['tunnel', 'native']).default('tunnel'),
    tunnelProtocol: z.enum(['vxlan']).default('vxlan'),
    tunnelPort: z.number().int().min(1).max(65535).default(8472),
    tunnelDevice: z.string().min(1).max(15).default('cilium_vxlan'),
    /** This node's underlay IPv4 (default: the address of the interface holding the default route). */
    nodeIp: z.string().ip({ version: 'v4' }).optional(),
    /** JSON list of remote nodes `[{ name, ip, podCIDRs }]`, watched for changes (without Kubernetes). */
    remoteNodesFile: z.string().min(1).optional(),
    /** Kubernetes mode: CiliumNode / CiliumEndpoints / watches. Resolved by loadAgentConfig (see resolveK8sMode). */
    k8sMode: z.boolean().default(false),
    /** kubeconfig file; default $KUBECONFIG, else in-cluster (KUBERNETES_SERVICE_HOST/PORT + service account). */
    k8sKubeconfigPath: z.string().min(1).optional(),
    /** Namespace the agent runs in (CILIUM_K8S_NAMESPACE). */
    k8sNamespace: z.string().min(1).default('kube-system'),
    /** ipam: cluster-pool (CiliumNode spec.ipam.podCIDRs, from the operator) or kubernetes (Node spec.podCIDRs). */
    ipamMode: z.enum(['cluster-pool', 'kubernetes']).default('cluster-pool'),
    /** The operator's pool (reported, not used by the agent). */
    clusterPoolIpv4Cidr: z.array(z.string()).optional(),
    clusterPoolIpv4MaskSize: z.number().int().min(1).max(32).optional(),
    clusterName: z.string().min(1).default('default'),
    /** Masquerade pod traffic leaving the cluster's pod range to the node's address (iptables, as Cilium). */
    enableIpv4Masquerade: z.boolean().default(false),
    /** Destinations never masqueraded (default: the cluster pool, else this node's pod CIDR). */
    ipv4NativeRoutingCidr: z.string().optional(),
    /** Stored and reported (GET /v1/healthz kube-proxy-replacement.mode); the service LB is issue 4. */
    kubeProxyReplacement: z.enum(KUBE_PROXY_REPLACEMENT_MODES).default('false'),
    enableHubble: z.boolean().default(true),
    /** GET /healthz on 127.0.0.1:<port> (plain HTTP, the chart's probes); 0 disables it. */
    agentHealthPort: z.number().int().min(0).max(65535).default(9879),
    // ---- services / kube-proxy replacement (Cilium's flag names; apps/agent/src/service) ----
    /** partial mode: the sub-features, each off unless set (true/strict/probe: all on). */
    enableNodePort: z.boolean().optional(),
    enableHostPort: z.boolean().optional(),
    enableExternalIps: z.boolean().optional(),
    /** Socket LB (bpf_sock on --cgroup-root): `enable-host-reachable-services` (1.10) or `bpf-lb-sock`. */
    enableHostReachableServices: z.boolean().optional(),
    bpfLbSock: z.boolean().optional(),
    enableSessionAffinity: z.boolean().optional(),
    bpfLbAlgorithm: z.enum(['random', 'maglev']).default('random'),
    /** NodePort to remote backends: snat, dsr (native routing only, as Cilium 1.10) or hybrid (DSR for TCP, SNAT for UDP). */
    bpfLbMode: z.enum(['snat', 'dsr', 'hybrid']).default('snat'),
    /** NodePort range "min-max" (Cilium: node-port-range, default 30000-32767). */
    nodePortRange: z
      .string()
      .regex(/^\d{1,5}[-,]\d{1,5}$/, 'expected "min-max", e.g. 30000-32767')
      .refine((v) => {
        const [a, b] = v.split(/[-,]/).map(Number);
        return a !== undefined && b !== undefined && a >= 1 && b <= 65535 && a <= b;
      }, 'expected 1 <= min <= max <= 65535')
      .default('30000-32767'),
    bpfLbMaglevHashSeed: z.string().min(4).default('JLfvgnHc2kaSUFaI'),
    /** cgroup2 directory bpf_sock is attached to (Cilium: cgroup-root). Must be a cgroup2 subtree, never the root. */
    cgroupRoot: z.string().min(1).default('/run/cilium/cgroupv2'),
    /** Detach bpf_sock from --cgroup-root when the agent stops (default false: as Cilium, it stays attached). */
    bpfLbSockDetachOnShutdown: z.boolean().default(false),
    /** Ports of fragmented TCP/UDP datagrams tracked from their first fragment, so later fragments are load-balanced and NATed (Cilium: enable-ipv4-fragment-tracking, default true). */
    enableIpv4FragmentTracking: z.boolean().default(true),
    /** Node devices bpf_host (NodePort, ExternalIPs) is attached to (Cilium: devices). */
    devices: z.array(z.string().min(1).max(15)).default([]),
  })
  .strict();

export type AgentConfig = z.infer<typeof agentConfigSchema>;

export class ConfigError extends Error {
  readonly code = 'AGENT_CONFIG_INVALID';
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

const kebabToCamel = (k: string): string => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export interface LoadAgentConfigOptions {
  /** --config-dir: the mounted cilium-config ConfigMap. */
  configDir?: string | undefined;
  /** Environment (default process.env): K8S_NODE_NAME, CILIUM_K8S_NAMESPACE, KUBECONFIG, KUBERNETES_SERVICE_HOST/PORT. */
  env?: Record<string, string | undefined>;
  /** The in-cluster service account token (default /var/run/secrets/kubernetes.io/serviceaccount/token). */
  serviceAccountTokenPath?: string;
  /** Keys of the config dir this agent does not know (for a debug log). */
  onUnknownKeys?: (keys: string[]) => void;
}

/**
 * Kubernetes mode: `--k8s-mode` (true/false wins), or `--k8s-kubeconfig-path`, or no pod CIDR and a cluster to
 * talk to ($KUBECONFIG, or KUBERNETES_SERVICE_HOST/PORT with a service-account token). Without any of these,
 * the agent runs as before Kubernetes: `--pod-cidr`, optional `--remote-nodes-file`.
 */
export function resolveK8sMode(merged: Record<string, unknown>, env: Record<string, string | undefined>, tokenPath: string): boolean {
  if (typeof merged['k8sMode'] === 'boolean') return merged['k8sMode'];
  if (typeof merged['k8sKubeconfigPath'] === 'string') return true;
  if (merged['podCidr'] !== undefined) return false;
  if (env['KUBECONFIG']) return true;
  return Boolean(env['KUBERNETES_SERVICE_HOST'] && env['KUBERNETES_SERVICE_PORT'] && existsSync(tokenPath));
}

/**
 * Merges flags > config dir (Cilium's keys) > YAML file (kebab-case or camelCase keys) > environment
 * (K8S_NODE_NAME, CILIUM_K8S_NAMESPACE) > defaults, resolves Kubernetes mode, then validates.
 */
export function loadAgentConfig(flags: Record<string, unknown>, configFile?: string, o: LoadAgentConfigOptions = {}): AgentConfig {
  const env = o.env ?? process.env;
  let fromFile: Record<string, unknown> = {};
  if (configFile !== undefined) {
    let raw: unknown;
    try {
      raw = parseYaml(readFileSync(configFile, 'utf8'));
    } catch (e) {
      throw new ConfigError(`cannot read config file ${configFile}: ${e instanceof Error ? e.message : String(e)}`, 'pass a readable YAML file of agent settings');
    }
    if (raw !== null && raw !== undefined) {
      if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`config file ${configFile} is not a mapping`, 'write `pod-cidr: 10.200.0.0/24` style key: value lines');
      fromFile = Object.fromEntries(Object.entries(raw).map(([k, v]) => [kebabToCamel(k), v]));
    }
  }
  let fromDir: Record<string, unknown> = {};
  if (o.configDir !== undefined) {
    try {
      const r = configMapToSettings(readConfigDir(o.configDir));
      fromDir = r.settings;
      if (r.unknown.length > 0) o.onUnknownKeys?.(r.unknown);
    } catch (e) {
      if (e instanceof ConfigDirError) throw new ConfigError(e.message, e.hint);
      throw e;
    }
  }
  const fromEnv: Record<string, unknown> = {};
  if (env['K8S_NODE_NAME']) fromEnv['nodeName'] = env['K8S_NODE_NAME'];
  if (env['CILIUM_K8S_NAMESPACE']) fromEnv['k8sNamespace'] = env['CILIUM_K8S_NAMESPACE'];
  const merged: Record<string, unknown> = { ...fromEnv, ...fromFile, ...fromDir };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) merged[k] = v;
  merged['k8sMode'] = resolveK8sMode(merged, env, o.serviceAccountTokenPath ?? '/var/run/secrets/kubernetes.io/serviceaccount/token');
  if (!merged['k8sMode'] && merged['podCidr'] === undefined) {
    throw new ConfigError(
      'invalid agent configuration: podCidr: required outside Kubernetes mode',
      'set --pod-cidr to a CIDR such as 10.200.0.0/24, or run in Kubernetes mode (--k8s-mode, --k8s-kubeconfig-path, $KUBECONFIG or in-cluster)',
    );
  }
  const r = agentConfigSchema.safeParse(merged);
  if (!r.success) {
    const first = r.error.issues[0];
    const where = first?.path.join('.') ?? '';
    const msg = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    const hints: Record<string, string> = {
      podCidr: 'set --pod-cidr to a CIDR such as 10.200.0.0/24',
      routingMode: 'use --routing-mode tunnel (VXLAN, the default) or native',
      tunnelProtocol: 'only vxlan is supported (this kernel has no geneve)',
      nodeIp: 'pass --node-ip with this node\'s underlay IPv4 address',
      kubeProxyReplacement: `use one of ${KUBE_PROXY_REPLACEMENT_MODES.join(', ')}`,
      agentHealthPort: 'use a port 1..65535 (0 disables the health endpoint)',
      bpfLbAlgorithm: 'use --bpf-lb-algorithm random or maglev',
      bpfLbMode: 'use --bpf-lb-mode snat, dsr or hybrid',
      nodePortRange: 'use --node-port-range 30000-32767 (min-max)',
      devices: 'pass --devices eth0,eth1 (interface names, at most 15 characters)',
    };
    throw new ConfigError(`invalid agent configuration: ${msg}`, hints[where] ?? 'see `cilium-agent --help`');
  }
  return r.data;
}
