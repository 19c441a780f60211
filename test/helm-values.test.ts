// Static checks of the chart that need no helm binary: every key the shipped values files set is a value the
// chart defines (a typo would be silently ignored by helm), and the release's version is the same everywhere.
import { readFileSync } from 'node:fs';
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
});
