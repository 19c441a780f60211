/**
 * A container's environment as the kubelet builds it: the service env of the API (KUBERNETES_SERVICE_*),
 * envFrom, then env (value with $(VAR) expansion, valueFrom fieldRef / resourceFieldRef / configMapKeyRef /
 * secretKeyRef), and $(VAR) expansion of command and args. Pure, given the referenced objects.
 */
import { parseQuantity } from './cgroups.js';

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    resourceFieldRef?: { resource: string; divisor?: string; containerName?: string };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
  };
}

export interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}

export interface PodFieldSource {
  name: string;
  namespace: string;
  uid: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  nodeName: string;
  serviceAccountName: string;
  podIPs: string[];
  hostIP: string;
}

/** Looks up keys of ConfigMaps and Secrets (already decoded); undefined object = not found. */
export interface ObjectLookup {
  configMap(name: string): Record<string, string> | undefined;
  secret(name: string): Record<string, string> | undefined;
}

export class EnvError extends Error {
  readonly code = 'CreateContainerConfigError';
}

export function fieldValue(path: string, p: PodFieldSource): string {
  const lab = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (lab) return (lab[1] === 'labels' ? p.labels : p.annotations)[lab[2]!] ?? '';
  switch (path) {
    case 'metadata.name': return p.name;
    case 'metadata.namespace': return p.namespace;
    case 'metadata.uid': return p.uid;
    case 'spec.nodeName': return p.nodeName;
    case 'spec.serviceAccountName': return p.serviceAccountName;
    case 'status.podIP': return p.podIPs[0] ?? '';
    case 'status.podIPs': return p.podIPs.join(',');
    case 'status.hostIP': return p.hostIP;
    case 'status.hostIPs': return p.hostIP;
    default: throw new EnvError(`unsupported fieldRef ${path}`);
  }
}

/** $(VAR) expansion as in the kubelet (expansion.Expand): $$ escapes, unknown references stay as they are. */
export function expandVars(s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && name in env ? env[name]! : m;
  });
}

export interface ContainerEnvInput {
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  resources?: { limits?: Record<string, string | number>; requests?: Record<string, string | number> };
}

export function containerEnv(c: ContainerEnvInput, pod: PodFieldSource, lookup: ObjectLookup, base: Record<string, string>, nodeAllocatable: { cpu: number; memory: number }): Record<string, string> {
  const env: Record<string, string> = { ...base };
  for (const ef of c.envFrom ?? []) {
    const ref = ef.configMapRef ?? ef.secretRef;
    if (!ref) continue;
    const data = ef.configMapRef ? lookup.configMap(ref.name) : lookup.secret(ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw new EnvError(`${ef.configMapRef ? 'configmap' : 'secret'} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries(data)) env[`${ef.prefix ?? ''}${k}`] = v;
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom) {
      const vf = e.valueFrom;
      if (vf.fieldRef) env[e.name] = fieldValue(vf.fieldRef.fieldPath, pod);
      else if (vf.resourceFieldRef) {
        const [kind, res] = vf.resourceFieldRef.resource.split('.') as [string, string];
        const q = kind === 'limits' ? c.resources?.limits?.[res] : c.resources?.requests?.[res];
        let v = parseQuantity(q);
        if (v === undefined) v = res === 'cpu' ? nodeAllocatable.cpu : res === 'memory' ? nodeAllocatable.memory : 0;
        const div = parseQuantity(vf.resourceFieldRef.divisor ?? (res === 'cpu' ? '1' : '1')) ?? 1;
        env[e.name] = String(Math.ceil(v / div));
      } else if (vf.configMapKeyRef || vf.secretKeyRef) {
        const ref = (vf.configMapKeyRef ?? vf.secretKeyRef)!;
        const data = vf.configMapKeyRef ? lookup.configMap(ref.name) : lookup.secret(ref.name);
        const v = data?.[ref.key];
        if (v === undefined) {
          if (ref.optional) continue;
          throw new EnvError(data ? `couldn't find key ${ref.key} in ${vf.configMapKeyRef ? 'ConfigMap' : 'Secret'} ${pod.namespace}/${ref.name}` : `${vf.configMapKeyRef ? 'configmap' : 'secret'} "${ref.name}" not found`);
        }
        env[e.name] = v;
      }
    } else {
      env[e.name] = expandVars(e.value ?? '', env);
    }
  }
  return env;
}

/** The KUBERNETES_SERVICE_* / KUBERNETES_PORT* variables, pointing at the apiserver as this node reaches it. */
export function kubernetesServiceEnv(host: string, port: string): Record<string, string> {
  const h = host.includes(':') ? `[${host}]` : host;
  return {
    KUBERNETES_SERVICE_HOST: host,
    KUBERNETES_SERVICE_PORT: port,
    KUBERNETES_SERVICE_PORT_HTTPS: port,
    KUBERNETES_PORT: `tcp://${h}:${port}`,
    [`KUBERNETES_PORT_${port}_TCP`]: `tcp://${h}:${port}`,
    [`KUBERNETES_PORT_${port}_TCP_PROTO`]: 'tcp',
    [`KUBERNETES_PORT_${port}_TCP_PORT`]: port,
    [`KUBERNETES_PORT_${port}_TCP_ADDR`]: host,
  };
}
