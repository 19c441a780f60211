// Static checks of the chart that need no helm binary: every key the shipped values files set is a value the
// chart defines (a typo would be silently ignored by helm), and the release's version is the same everywhere.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const dir = join(import.meta.dirname, '..', 'install/kubernetes');
const load = (f: string): Record<string, unknown> => parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>;
const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Paths set in `given` that `defaults` does not define (free-form maps in `defaults` accept any key). */
function unknownKeys(given: Record<string, unknown>, defaults: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(given)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (!(k in defaults)) {
      out.push(path);
      continue;
    }
    const d = defaults[k];
    if (isMap(v) && isMap(d) && Object.keys(d).length > 0) out.push(...unknownKeys(v, d, path));
  }
  return out;
}

describe('chart values', () => {
  const defaults = load('cilium/values.yaml');
  it.each(['values-lab.yaml', 'values-install-guide-1.10.yaml'])('%s sets only values the chart defines', (f) => {
    expect(unknownKeys(load(f), defaults)).toEqual([]);
  });

  it('the install guide values are the 1.10 guide and chart spellings', () => {
    expect(load('values-install-guide-1.10.yaml')).toEqual({
      kubeProxyReplacement: 'strict',
      k8sServiceHost: 'REPLACE_WITH_API_SERVER_IP',
      k8sServicePort: 6443,
      tunnel: 'vxlan',
      ipam: { mode: 'cluster-pool', operator: { clusterPoolIPv4PodCIDR: '10.0.0.0/8', clusterPoolIPv4MaskSize: 24 } },
    });
  });

  it('one release version: Chart.yaml version/appVersion and the image tags', () => {
    const chart = load('cilium/Chart.yaml');
    expect(chart.name).toBe('cilium');
    expect(chart.appVersion).toBe(chart.version);
    const tag = `v${String(chart.version)}`;
    const at = (...path: string[]): unknown => path.reduce<unknown>((o, k) => (isMap(o) ? o[k] : undefined), defaults);
    expect([at('image', 'tag'), at('operator', 'image', 'tag'), at('hubble', 'relay', 'image', 'tag')]).toEqual([tag, tag, tag]);
  });

  it('every .Values path the templates read is defined in values.yaml (a typo would render as empty)', () => {
    const files: string[] = [];
    const walk = (p: string): void => {
      for (const f of readdirSync(p)) {
        const q = join(p, f);
        if (statSync(q).isDirectory()) walk(q);
        else files.push(q);
      }
    };
    walk(join(dir, 'cilium/templates'));
    const refs = new Set<string>();
    for (const f of files) for (const m of readFileSync(f, 'utf8').matchAll(/\.Values((?:\.[A-Za-z0-9_]+)+)/g)) refs.add((m[1] ?? '').slice(1));
    expect(refs.size).toBeGreaterThan(50);
    const undefinedPaths = [...refs].filter((r) => {
      let o: unknown = defaults;
      for (const k of r.split('.')) {
        if (!isMap(o) || !(k in o)) return true;
        o = o[k];
      }
      return false;
    });
    expect(undefinedPaths).toEqual([]);
  });

  it('kube-proxy replacement: each service value renders its cilium-config key; the cgroup hostPath is mounted where cgroup-root says', () => {
    const cm = readFileSync(join(dir, 'cilium/templates/cilium-configmap.yaml'), 'utf8');
    const keyOf: Record<string, string> = {
      'kube-proxy-replacement': 'include "cilium.kubeProxyReplacement"',
      'enable-node-port': '.Values.nodePort.enabled',
      'enable-host-port': '.Values.hostPort.enabled',
      'enable-external-ips': '.Values.externalIPs.enabled',
      'enable-host-reachable-services': '.Values.hostServices.enabled',
      'host-reachable-services-protos': 'include "cilium.hostServicesProtocols"',
      'node-port-range': 'include "cilium.nodePortRange"',
      'bpf-lb-sock': '.Values.socketLB.enabled',
      'bpf-lb-algorithm': 'include "cilium.lbAlgorithm"',
      'bpf-lb-mode': 'include "cilium.lbMode"',
      'cgroup-root': '.Values.cgroup.hostRoot',
      devices: 'include "cilium.devices"',
    };
    for (const [key, source] of Object.entries(keyOf)) {
      expect(cm, key).toMatch(new RegExp(`\\n\\s+${key}: `));
      expect(cm, source).toContain(source.replace(/^include "(.*)"$/, '$1'));
    }
    const at = (...path: string[]): unknown => path.reduce<unknown>((o, k) => (isMap(o) ? o[k] : undefined), defaults);
    expect(at('cgroup', 'hostRoot')).toBe('/run/cilium/cgroupv2');
    expect(at('kubeProxyReplacement')).toBe('false');
    expect([at('nodePort', 'range'), at('loadBalancer', 'algorithm'), at('loadBalancer', 'mode'), at('socketLB', 'enabled'), at('devices')]).toEqual(['', '', '', null, '']);
    const ds = readFileSync(join(dir, 'cilium/templates/cilium-agent/daemonset.yaml'), 'utf8');
    expect(ds).toMatch(/- name: cilium-cgroup\s+mountPath: \{\{ \.Values\.cgroup\.hostRoot \}\}/);
    expect(ds).toMatch(/- name: cilium-cgroup\s+hostPath:\s+path: \{\{ \.Values\.cgroup\.hostRoot \}\}/);
  });

  it('the agent may read services and EndpointSlices (list/watch)', () => {
    const cr = parse(readFileSync(join(dir, 'cilium/templates/cilium-agent/clusterrole.yaml'), 'utf8').replace(/^.*\{\{.*\}\}.*$/gm, '')) as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    const can = (group: string, res: string, verb: string): boolean => cr.rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(res) && r.verbs.includes(verb));
    for (const verb of ['list', 'watch']) {
      expect(can('', 'services', verb)).toBe(true);
      expect(can('discovery.k8s.io', 'endpointslices', verb)).toBe(true);
      expect(can('', 'pods', verb)).toBe(true);
      expect(can('', 'nodes', verb)).toBe(true);
    }
  });
});
