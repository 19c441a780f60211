// The chart ships copies of the generated CRDs (install/kubernetes/sync-crds.sh); they must not drift.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const src = join(root, 'packages/k8s/crds');
const dst = join(root, 'install/kubernetes/cilium/crds');
const yamls = (d: string): string[] => readdirSync(d).filter((f) => f.endsWith('.yaml')).sort();

describe('chart CRDs', () => {
  it('are exactly the CRDs of packages/k8s/crds (run install/kubernetes/sync-crds.sh after changing them)', () => {
    expect(yamls(src).length).toBeGreaterThan(0);
    expect(yamls(dst)).toEqual(yamls(src));
    for (const f of yamls(src)) expect(readFileSync(join(dst, f), 'utf8'), `${f} differs; run install/kubernetes/sync-crds.sh`).toBe(readFileSync(join(src, f), 'utf8'));
  });
});
