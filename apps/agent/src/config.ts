import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseCidr } from './ipam/cidr.js';

/** Agent settings. Every flag can also be set in a YAML file (`--config-file`), flags win. */
export const agentConfigSchema = z
  .object({
    podCidr: z.string().superRefine((v, ctx) => {
      try {
        parseCidr(v);
      } catch (e) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: e instanceof Error ? e.message : String(e) });
      }
    }),
    stateDir: z.string().min(1).default('/var/run/cilium/state'),
    bpfRoot: z.string().min(1).default('/sys/fs/bpf'),
    socketPath: z.string().min(1).default('/var/run/cilium/cilium.sock'),
    hubbleSocketPath: z.string().min(1).default('/var/run/cilium/hubble.sock'),
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

/** Merges a YAML file (kebab-case or camelCase keys, as Cilium's config map) with flags, then validates. */
export function loadAgentConfig(flags: Record<string, unknown>, configFile?: string): AgentConfig {
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
  const merged: Record<string, unknown> = { ...fromFile };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) merged[k] = v;
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
    };
    throw new ConfigError(`invalid agent configuration: ${msg}`, hints[where] ?? 'see `cilium-agent --help`');
  }
  return r.data;
}
