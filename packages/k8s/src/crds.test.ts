import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { ciliumCrds, type CustomResourceDefinition } from './crd-schemas.js';
import { CrdValidator } from './crd-validator.js';
import { crdFileName, renderCrdYaml } from './crd-files.js';

const here = dirname(fileURLToPath(import.meta.url));
const crdDir = join(here, '..', 'crds');
const testdata = join(here, 'testdata');

/** Renders the cilium-cli manifests' Go templates with the suite's default parameters (one item per range). */
function renderTemplate(text: string): string {
  const params: Record<string, string> = {
    TestNamespace: 'cilium-test',
    ExternalTarget: 'one.one.one.one.',
    ExternalIP: '1.1.1.1',
    ExternalOtherIP: '1.0.0.1',
    ExternalCIDR: '1.0.0.0/8',
    ExternalTargetCAName: 'cabundle',
    ExternalTargetCANamespace: 'cilium-test',
    K8sCIDR: '10.96.0.1/32',
  };
  return text
    .split('\n')
    .filter((l) => !/^\s*\{\{-?\s*(range\b.*|end)\s*-?\}\}\s*$/.test(l))
    .join('\n')
    .replace(/\{\{\s*trimSuffix \.(\w+) "\."\s*\}\}/g, (_, k: string) => (params[k] ?? '').replace(/\.$/, ''))
    .replace(/\{\{\s*\$i\.IP\s*\}\}/g, '192.168.10.3')
    .replace(/\{\{\s*\$i\.Mask\s*\}\}/g, '32')
    .replace(/\{\{\s*\.\s*\}\}/g, '192.168.10.0/24')
    .replace(/\{\{\s*\.(\w+)\s*\}\}/g, (m, k: string) => params[k] ?? m);
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : /\.(ya?ml|json)$/.test(n) ? [p] : [];
  });
}

interface Doc { file: string; index: number; obj: Record<string, unknown> }

function policyDocs(): Doc[] {
  const docs: Doc[] = [];
  for (const file of walk(testdata)) {
    const text = renderTemplate(readFileSync(file, 'utf8'));
    parseAllDocuments(text).forEach((d, index) => {
      expect(d.errors, `${file}#${index} parses`).toEqual([]);
      const obj = d.toJS() as Record<string, unknown> | null;
      if (obj && String(obj['apiVersion']).startsWith('cilium.io/') && /NetworkPolicy$/.test(String(obj['kind']))) {
        docs.push({ file: relative(testdata, file), index, obj });
      }
    });
  }
  return docs;
}

const crds = ciliumCrds();
const byKind = new Map<string, CustomResourceDefinition>(crds.map((c) => [c.spec.names.kind, c]));
const cnp = new CrdValidator(byKind.get('CiliumNetworkPolicy')!);
const ccnp = new CrdValidator(byKind.get('CiliumClusterwideNetworkPolicy')!);

/** Unknown fields in real upstream files (defects of the stored versions, see testdata/README.md). */
const KNOWN_UNKNOWN: Record<string, string[]> = {
  'cilium-policy-examples/l7/http/http.yaml': ['spec.ingress[0].toPorts[0].rules.HTTP'],
  'cilium-policy-examples/l4/l3_l4_combined.yaml': ['spec.ingress[0].fromEndpoints[0].role'],
};

describe('CRD files', () => {
  it('packages/k8s/crds/*.yaml are the generator output (UPDATE_CRDS=1 rewrites them)', () => {
    for (const crd of crds) {
      const path = join(crdDir, crdFileName(crd));
      const want = renderCrdYaml(crd);
      if (process.env['UPDATE_CRDS'] === '1') writeFileSync(path, want);
      expect(readFileSync(path, 'utf8'), path).toBe(want);
    }
    expect(readdirSync(crdDir).sort()).toEqual(crds.map(crdFileName).sort());
  });

  it('have the names, scopes and short names of Cilium', () => {
    const summary = crds.map((c) => [c.metadata.name, c.spec.scope, c.spec.names.shortNames?.[0]]);
    expect(summary).toEqual([
      ['ciliumnetworkpolicies.cilium.io', 'Namespaced', 'cnp'],
      ['ciliumclusterwidenetworkpolicies.cilium.io', 'Cluster', 'ccnp'],
      ['ciliumnodes.cilium.io', 'Cluster', 'cn'],
      ['ciliumendpoints.cilium.io', 'Namespaced', 'cep'],
      ['ciliumidentities.cilium.io', 'Cluster', 'ciliumid'],
      ['ciliumloadbalancerippools.cilium.io', 'Cluster', 'ippools'],
    ]);
  });

  it('CiliumLoadBalancerIPPool: served as v2 (storage) and v2alpha1, with a status subresource', () => {
    const pool = byKind.get('CiliumLoadBalancerIPPool')!;
    expect(pool.spec.versions.map((v) => [v.name, v.served, v.storage, v.subresources?.status !== undefined])).toEqual([['v2', true, true, true], ['v2alpha1', true, false, true]]);
    expect(pool.spec.names.shortNames).toEqual(['ippools', 'ippool', 'lbippool', 'lbippools']);
  });
});

describe('real policies validate against the CRD schemas', () => {
  const docs = policyDocs();
  it('found the upstream policies', () => {
    expect(docs.length).toBeGreaterThanOrEqual(70);
    expect(docs.some((d) => d.obj['kind'] === 'CiliumClusterwideNetworkPolicy')).toBe(true);
  });
  for (const d of docs) {
    it(`${d.file}#${d.index} (${String(d.obj['kind'])})`, () => {
      const v = d.obj['kind'] === 'CiliumClusterwideNetworkPolicy' ? ccnp : cnp;
      const r = v.validate(d.obj);
      expect(r.errors).toEqual([]);
      expect(r.unknownFields).toEqual(KNOWN_UNKNOWN[d.file] ?? []);
    });
  }
});

describe('invalid policies are rejected with a clear message', () => {
  const base = (spec: Record<string, unknown>): Record<string, unknown> => ({
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name: 'bad' },
    spec,
  });
  const sel = { matchLabels: { app: 'x' } };
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['port out of range', base({ endpointSelector: sel, ingress: [{ toPorts: [{ ports: [{ port: '70000', protocol: 'TCP' }] }] }] }), /spec\.ingress\[0\]\.toPorts\[0\]\.ports\[0\]\.port: must match pattern/],
    ['port as a number', base({ endpointSelector: sel, ingress: [{ toPorts: [{ ports: [{ port: 80 }] }] }] }), /ports\[0\]\.port: must be string/],
    ['unknown protocol', base({ endpointSelector: sel, egress: [{ toPorts: [{ ports: [{ port: '53', protocol: 'XTP' }] }] }] }), /protocol: Unsupported value: "XTP" must be one of "TCP", "UDP", "SCTP", "ANY"/],
    ['toPorts not a list', base({ endpointSelector: sel, ingress: [{ toPorts: { ports: [{ port: '80' }] } }] }), /spec\.ingress\[0\]\.toPorts: must be array/],
    ['both selectors', base({ endpointSelector: sel, nodeSelector: sel }), /spec: must validate one and only one schema \(oneOf\)/],
    ['no selector', base({ ingress: [{ fromEntities: ['world'] }] }), /spec: must validate one and only one schema \(oneOf\)/],
    ['unknown entity', base({ endpointSelector: sel, ingress: [{ fromEntities: ['internet'] }] }), /fromEntities\[0\]: Unsupported value: "internet"/],
    ['bad CIDR', base({ endpointSelector: sel, egress: [{ toCIDR: ['10.0.0.0/33'] }] }), /toCIDR\[0\]: must match pattern/],
    ['endPort out of range', base({ endpointSelector: sel, ingress: [{ toPorts: [{ ports: [{ port: '80', endPort: 70000 }] }] }] }), /endPort: must be <= 65535/],
    ['bad matchExpressions operator', base({ endpointSelector: { matchExpressions: [{ key: 'a', operator: 'Is' }] } }), /matchExpressions\[0\]\.operator: must match pattern/],
    ['http rules not a list', base({ endpointSelector: sel, ingress: [{ toPorts: [{ ports: [{ port: '80' }], rules: { http: { method: 'GET' } } }] }] }), /rules\.http: must be array/],
    ['port missing', base({ endpointSelector: sel, ingress: [{ toPorts: [{ ports: [{ protocol: 'TCP' }] }] }] }), /ports\[0\]\.port: Required value/],
    ['specs with a bad rule', { ...base(undefined as never), spec: undefined, specs: [{ endpointSelector: sel }, { egress: [] }] }, /specs\[1\]: must validate one and only one schema/],
  ];
  for (const [name, obj, re] of cases) {
    it(name, () => {
      const clean = JSON.parse(JSON.stringify(obj)) as unknown;
      const r = cnp.validate(clean);
      expect(r.errors.join('\n')).toMatch(re);
    });
  }

  it('CiliumNode and CiliumIdentity schemas check their shapes', () => {
    const cn = new CrdValidator(byKind.get('CiliumNode')!);
    expect(cn.validate({ metadata: { name: 'n1' }, spec: { ipam: { podCIDRs: ['10.0.1.0/24'] }, addresses: [{ type: 'InternalIP', ip: '192.168.1.2' }] } }).errors).toEqual([]);
    expect(cn.validate({ metadata: { name: 'n1' }, spec: { ipam: { podCIDRs: '10.0.1.0/24' } } }).errors.join()).toMatch(/spec\.ipam\.podCIDRs: must be array/);
    const id = new CrdValidator(byKind.get('CiliumIdentity')!);
    expect(id.validate({ metadata: { name: '1234' }, 'security-labels': { 'k8s:app': 'x' } }).errors).toEqual([]);
    expect(id.validate({ metadata: { name: '1234' } }).errors.join()).toMatch(/security-labels: Required value/);
  });

  it('CiliumLoadBalancerIPPool schema: the documented pool validates, a bad one does not', () => {
    const v = new CrdValidator(byKind.get('CiliumLoadBalancerIPPool')!);
    const doc = {
      apiVersion: 'cilium.io/v2alpha1', kind: 'CiliumLoadBalancerIPPool', metadata: { name: 'blue-pool' },
      spec: {
        blocks: [{ cidr: '10.0.10.0/24' }, { cidr: '2004::0/64' }, { start: '20.0.20.100', stop: '20.0.20.200' }, { start: '1.2.3.4' }],
        serviceSelector: { matchLabels: { color: 'blue' }, matchExpressions: [{ key: 'io.kubernetes.service.namespace', operator: 'In', values: ['tenant-a'] }] },
        allowFirstLastIPs: 'No', disabled: false,
      },
    };
    expect(v.validate(doc)).toEqual({ errors: [], unknownFields: [] });
    expect(v.validate({ ...doc, spec: { cidrs: [{ cidr: '10.0.10.0/24' }] } }).errors).toEqual([]);
    expect(v.validate({ ...doc, spec: { allowFirstLastIPs: 'Maybe' } }).errors.join()).toMatch(/allowFirstLastIPs: Unsupported value/);
    expect(v.validate({ ...doc, spec: { serviceSelector: { matchExpressions: [{ key: 'a', operator: 'in' }] } } }).errors.join()).toMatch(/operator: Unsupported value/);
    expect(v.validate({ metadata: { name: 'x' } }).errors.join()).toMatch(/spec: Required value/);
  });

  it('the YAML of one file round-trips to the same object', () => {
    const crd = crds[0]!;
    const back = parseAllDocuments(renderCrdYaml(crd))[0]!.toJS() as unknown;
    expect(back).toEqual(JSON.parse(JSON.stringify(crd)));
    expect(stringify(back).length).toBeGreaterThan(1000);
  });
});
