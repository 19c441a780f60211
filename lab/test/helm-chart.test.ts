// `helm template` of install/kubernetes/cilium with the real helm (lab/build-upstream.sh builds it from the Go
// module proxy; $HELM points at another helm binary). Checks the objects, the cilium-config keys each value
// combination gives, and the messages of the values the chart refuses.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHART = join(ROOT, 'install/kubernetes/cilium');
const KUBE_VERSION = 'v1.36.3';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  spec?: Record<string, unknown>;
}

let helm = '';

function findHelm(): string {
  if (process.env.HELM) return process.env.HELM;
  const out = execFileSync(join(ROOT, 'lab/build-upstream.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  const bin = out.trim().split('\n').pop() ?? '';
  const h = join(bin.trim(), 'helm');
  if (!existsSync(h)) throw new Error(`lab/build-upstream.sh printed ${bin}, which holds no helm`);
  return h;
}

/** helm template; returns the objects, or the error text when helm fails. */
function render(args: string[]): { objects: K8sObject[]; error?: string } {
  const r = spawnSync(helm, ['template', 'cilium', CHART, '--namespace', 'kube-system', '--kube-version', KUBE_VERSION, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) return { objects: [], error: r.stderr };
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(r.stdout)) {
    expect(doc.errors, `YAML errors: ${doc.errors.join('; ')}`).toEqual([]);
    const o = doc.toJS() as K8sObject | null;
    if (o !== null) objects.push(o);
  }
  return { objects };
}

function mustRender(args: string[]): K8sObject[] {
  const r = render(args);
  if (r.error !== undefined) throw new Error(`helm template ${args.join(' ')} failed: ${r.error}`);
  return r.objects;
}

const find = (objs: K8sObject[], kind: string, name: string): K8sObject | undefined => objs.find((o) => o.kind === kind && o.metadata.name === name);
const config = (objs: K8sObject[]): Record<string, string> => {
  const cm = find(objs, 'ConfigMap', 'cilium-config');
  if (!cm?.data) throw new Error('no cilium-config ConfigMap');
  return cm.data;
};
type Container = { name: string; image: string; command?: string[]; env?: Array<{ name: string; value?: string }>; readinessProbe?: unknown; livenessProbe?: unknown };
const podSpec = (o: K8sObject | undefined): { containers: Container[]; initContainers?: Container[]; hostNetwork?: boolean } => {
  const t = (o?.spec as { template?: { spec?: unknown } } | undefined)?.template?.spec;
  if (!t) throw new Error(`${o?.kind}/${o?.metadata.name}: no pod template`);
  return t as { containers: Container[]; initContainers?: Container[]; hostNetwork?: boolean };
};
const envOf = (c: Container | undefined): Record<string, string | undefined> => Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value]));

beforeAll(() => {
  helm = findHelm();
}, 7_200_000);

describe('helm chart install/kubernetes/cilium', () => {
  it('lints', () => {
    const r = spawnSync(helm, ['lint', CHART, '--kube-version', KUBE_VERSION], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toContain('0 chart(s) failed');
  });

  it('renders well-formed objects with the defaults', () => {
    const objs = mustRender([]);
    for (const o of objs) {
      expect(typeof o.apiVersion, JSON.stringify(o).slice(0, 200)).toBe('string');
      expect(typeof o.kind).toBe('string');
      expect(o.metadata.name.length).toBeGreaterThan(0);
    }
    const kinds = objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(kinds).toEqual(
      [
        'ClusterRole/cilium',
        'ClusterRole/cilium-operator',
        'ClusterRoleBinding/cilium',
        'ClusterRoleBinding/cilium-operator',
        'ConfigMap/cilium-config',
        'DaemonSet/cilium',
        'Deployment/cilium-operator',
        'Role/cilium-config-agent',
        'RoleBinding/cilium-config-agent',
        'Service/hubble-peer',
        'ServiceAccount/cilium',
        'ServiceAccount/cilium-operator',
      ].sort(),
    );
    const ds = podSpec(find(objs, 'DaemonSet', 'cilium'));
    expect(ds.hostNetwork).toBe(true);
    const agent = ds.containers.find((c) => c.name === 'cilium-agent');
    expect(agent?.image).toBe('quay.io/cilium/cilium:v1.16.0-cts.1');
    expect(agent?.command).toEqual(['cilium-agent']);
    expect(agent?.readinessProbe).toMatchObject({ httpGet: { host: '127.0.0.1', path: '/healthz', port: 9879 } });
    expect(ds.initContainers?.map((c) => c.command?.[0])).toEqual(['cilium-install-cni']);
    const op = find(objs, 'Deployment', 'cilium-operator');
    expect((op?.spec as { replicas: number }).replicas).toBe(2);
    const opc = podSpec(op).containers[0];
    expect(opc?.image).toBe('quay.io/cilium/operator-generic:v1.16.0-cts.1');
    expect(opc?.readinessProbe).toMatchObject({ httpGet: { host: '127.0.0.1', path: '/healthz', port: 9234 } });
    expect(config(objs)).toMatchObject({
      ipam: 'cluster-pool',
      'cluster-pool-ipv4-cidr': '10.0.0.0/8',
      'cluster-pool-ipv4-mask-size': '24',
      'routing-mode': 'tunnel',
      'tunnel-protocol': 'vxlan',
      'kube-proxy-replacement': 'false',
      'enable-hubble': 'true',
      'hubble-socket-path': '/var/run/cilium/hubble.sock',
      'monitor-aggregation': 'medium',
    });
    expect(config(objs)).not.toHaveProperty('tunnel');
  });

  it('installs the 1.10 install guide values unchanged', () => {
    const objs = mustRender(['-f', join(ROOT, 'install/kubernetes/values-install-guide-1.10.yaml'), '--set', 'k8sServiceHost=192.168.77.2']);
    expect(config(objs)).toMatchObject({
      'kube-proxy-replacement': 'strict',
      'cluster-pool-ipv4-cidr': '10.0.0.0/8',
      'cluster-pool-ipv4-mask-size': '24',
      'routing-mode': 'tunnel',
      'tunnel-protocol': 'vxlan',
      tunnel: 'vxlan',
    });
    for (const [kind, name] of [['DaemonSet', 'cilium'], ['Deployment', 'cilium-operator']] as const) {
      const c = podSpec(find(objs, kind, name)).containers[0];
      expect(envOf(c), `${kind}/${name}`).toMatchObject({ KUBERNETES_SERVICE_HOST: '192.168.77.2', KUBERNETES_SERVICE_PORT: '6443' });
    }
  });

  it('renders the lab values', () => {
    const objs = mustRender(['-f', join(ROOT, 'install/kubernetes/values-lab.yaml'), '--set', 'k8sServiceHost=10.99.0.1', '--set', 'k8sServicePort=6443']);
    expect(config(objs)).toMatchObject({ 'kube-proxy-replacement': 'true', 'cluster-pool-ipv4-cidr': '10.244.0.0/16', 'routing-mode': 'tunnel' });
  });

  it.each([
    [['--set', 'kubeProxyReplacement=true'], { 'kube-proxy-replacement': 'true' }],
    [['--set', 'kubeProxyReplacement=false'], { 'kube-proxy-replacement': 'false' }],
    [['--set', 'kubeProxyReplacement=strict'], { 'kube-proxy-replacement': 'strict' }],
    [['--set', 'kubeProxyReplacement=probe'], { 'kube-proxy-replacement': 'probe' }],
    [['--set', 'kubeProxyReplacement=disabled'], { 'kube-proxy-replacement': 'disabled' }],
    [['--set', 'kubeProxyReplacement=partial', '--set', 'nodePort.enabled=true'], { 'kube-proxy-replacement': 'partial', 'enable-node-port': 'true', 'enable-external-ips': 'false', 'enable-host-port': 'false' }],
    [['--set', 'routingMode=native', '--set', 'ipv4NativeRoutingCIDR=10.244.0.0/16', '--set', 'autoDirectNodeRoutes=true'], { 'routing-mode': 'native', 'ipv4-native-routing-cidr': '10.244.0.0/16', 'auto-direct-node-routes': 'true' }],
    [['--set', 'tunnel=disabled', '--set', 'nativeRoutingCIDR=10.0.0.0/8'], { 'routing-mode': 'native', tunnel: 'disabled', 'ipv4-native-routing-cidr': '10.0.0.0/8' }],
    [['--set', 'tunnel=geneve'], { 'routing-mode': 'tunnel', 'tunnel-protocol': 'geneve', tunnel: 'geneve' }],
    [['--set', 'tunnelProtocol=geneve'], { 'routing-mode': 'tunnel', 'tunnel-protocol': 'geneve' }],
    [['--set', 'ipam.operator.clusterPoolIPv4PodCIDRList={10.10.0.0/16,10.20.0.0/16}', '--set', 'ipam.operator.clusterPoolIPv4MaskSize=26'], { 'cluster-pool-ipv4-cidr': '10.10.0.0/16 10.20.0.0/16', 'cluster-pool-ipv4-mask-size': '26' }],
    [['--set', 'ipam.operator.clusterPoolIPv4PodCIDR=172.16.0.0/12'], { 'cluster-pool-ipv4-cidr': '172.16.0.0/12' }],
    [['--set', 'ipam.mode=kubernetes'], { ipam: 'kubernetes' }],
    [['--set', 'hubble.metrics.enabled={dns,drop,tcp,flow,icmp,http}'], { 'hubble-metrics': 'dns drop tcp flow icmp http', 'hubble-metrics-server': ':9965' }],
    [['--set', 'bpfMonitorAggregation=none'], { 'monitor-aggregation': 'none' }],
  ])('%j gives the cilium-config keys %j', (args, keys) => {
    expect(config(mustRender(args))).toMatchObject(keys);
  });

  it('refuses an invalid kubeProxyReplacement with a message naming the valid values', () => {
    const r = render(['--set', 'kubeProxyReplacement=yes']);
    expect(r.error).toContain('kubeProxyReplacement="yes" is not valid: use "true" or "false" (Cilium 1.14+), or one of the 1.10 modes "strict", "probe", "partial", "disabled"');
  });

  it.each([
    [['--set', 'routingMode=bgp'], 'routingMode="bgp" is not valid'],
    [['--set', 'tunnelProtocol=gre'], 'tunnelProtocol="gre" is not valid'],
    [['--set', 'tunnel=ipip'], 'tunnel="ipip" is not valid'],
    [['--set', 'ipam.mode=eni'], 'ipam.mode="eni" is not supported by cilium-ts'],
    [['--set', 'ipam.operator.clusterPoolIPv4PodCIDRList={10.0.0.0/33}'], 'cluster pool CIDR "10.0.0.0/33" is not an IPv4 CIDR'],
    [['--set', 'ipam.operator.clusterPoolIPv4PodCIDRList={10.0.0.0/16}', '--set', 'ipam.operator.clusterPoolIPv4MaskSize=8'], 'clusterPoolIPv4MaskSize=8 is shorter than the prefix'],
    [['--set', 'hubble.metrics.enabled=true'], 'hubble.metrics.enabled=true is not a list of metrics'],
    [['--set', 'hubble.ui.enabled=true'], 'hubble.ui.enabled=true needs hubble.relay.enabled=true'],
  ])('refuses %j', (args, message) => {
    const r = render(args);
    expect(r.error).toContain(message);
  });

  it('adds and removes hubble-relay and hubble-ui with their flags', () => {
    const off = mustRender([]);
    for (const n of ['hubble-relay', 'hubble-ui']) {
      expect(find(off, 'Deployment', n)).toBeUndefined();
      expect(find(off, 'Service', n)).toBeUndefined();
    }
    const relay = mustRender(['--set', 'hubble.relay.enabled=true']);
    const svc = find(relay, 'Service', 'hubble-relay');
    expect((svc?.spec as { ports: unknown[] }).ports).toEqual([{ protocol: 'TCP', port: 80, targetPort: 'grpc' }]);
    const rc = podSpec(find(relay, 'Deployment', 'hubble-relay')).containers[0];
    expect(rc?.image).toBe('quay.io/cilium/hubble-relay:v1.16.0-cts.1');
    expect(JSON.stringify(rc)).toContain('"containerPort":4245');
    expect(find(relay, 'ConfigMap', 'hubble-relay-config')?.data?.['config.yaml']).toContain('peer-service: "hubble-peer.kube-system.svc.cluster.local.:80"');
    expect(find(relay, 'Deployment', 'hubble-ui')).toBeUndefined();

    const both = mustRender(['--set', 'hubble.relay.enabled=true', '--set', 'hubble.ui.enabled=true']);
    const ui = podSpec(find(both, 'Deployment', 'hubble-ui'));
    expect(ui.containers.map((c) => c.image)).toEqual(['quay.io/cilium/hubble-ui:v0.13.1', 'quay.io/cilium/hubble-ui-backend:v0.13.1']);
    expect(envOf(ui.containers[1])).toMatchObject({ FLOWS_API_ADDR: 'hubble-relay:80' });
    expect((find(both, 'Service', 'hubble-ui')?.spec as { ports: unknown[] }).ports).toEqual([{ name: 'http', port: 80, targetPort: 8081 }]);
  });
});
