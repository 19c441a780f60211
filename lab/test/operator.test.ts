// cilium-operator against a REAL etcd + kube-apiserver (lab/build-upstream.sh binaries; openssl certs;
// loopback only; random free ports): CRDs registered and Established; real upstream policies accepted with
// strict field validation and invalid ones rejected with clear messages; CiliumNodes get distinct CIDRs;
// a deleted Node frees its CIDR; pool exhaustion is reported; an operator restart reassigns nothing; GC of
// CiliumEndpoints/CiliumIdentities; two operators -> one leader allocates, the other takes over when the
// leader dies; the Informer survives an apiserver restart without duplicate adds.
// Run: npx vitest run --config lab/vitest.config.ts lab/test/operator.test.ts
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './lib/fixtures.js';
import { TestControlPlane } from './lib/test-control-plane.js';
import { sleep, startProc, stopProc, waitUntil, type Proc } from './lib/test-process.js';
import { parseAllDocuments } from 'yaml';
import {
  Informer, KubeApiError, KubeClient, Resources, resourcePath,
  type CiliumNode, type KubeObject, type Lease,
} from '@cilium-ts/k8s';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OPERATOR = join(ROOT, 'bin', 'cilium-operator');

/** Renders the cilium-cli manifests' Go templates (same defaults as packages/k8s/src/crds.test.ts). */
function renderTemplate(text: string): string {
  const params: Record<string, string> = {
    TestNamespace: 'cilium-test', ExternalTarget: 'one.one.one.one.', ExternalIP: '1.1.1.1', ExternalOtherIP: '1.0.0.1',
    ExternalCIDR: '1.0.0.0/8', ExternalTargetCAName: 'cabundle', ExternalTargetCANamespace: 'cilium-test', K8sCIDR: '10.96.0.1/32',
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

const POOL = ['10.200.0.0/23', '10.201.0.0/24']; // 2 + 1 = three /24s
const NS = 'kube-system';
const LEASE = 'cilium-operator-resource-lock';

describe('cilium-operator on a real kube-apiserver', () => {
  const cp = new TestControlPlane();
  let kc: KubeClient;
  const operators: Proc[] = [];
  let opSeq = 0;

  async function startOperator(extra: string[] = []): Promise<{ proc: Proc; port: number }> {
    const port = await freePort();
    const proc = startProc(`operator-${++opSeq}`, process.execPath, [
      OPERATOR,
      `--kubeconfig=${cp.kubeconfig}`,
      `--cluster-pool-ipv4-cidr=${POOL.join(',')}`,
      '--cluster-pool-ipv4-mask-size=24',
      '--identity-gc-interval=3s',
      `--leader-election-namespace=${NS}`,
      `--health-port=${port}`,
      '--health-address=127.0.0.1',
      ...extra,
    ], join(cp.workDir, `operator-${opSeq}.log`));
    operators.push(proc);
    await waitUntil(`${proc.name} /healthz`, async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200, 120_000, [proc]);
    return { proc, port };
  }

  async function opStatus(port: number): Promise<{ leader: boolean; identity: string; pools: { used: number }[] | null }> {
    return (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as never;
  }

  const addNode = async (name: string) => {
    await kc.create(Resources.Node, { metadata: { name, labels: { 'operator-test': '1' } } } as KubeObject);
    await kc.create<CiliumNode>(Resources.CiliumNode, { metadata: { name }, spec: { addresses: [{ type: 'InternalIP', ip: '192.0.2.250' }] } });
  };
  const cidrOf = async (name: string) => (await kc.tryGet<CiliumNode>(Resources.CiliumNode, name))?.spec?.ipam?.podCIDRs;
  const waitCidr = (name: string, procs: Proc[]) =>
    waitUntil(`${name} gets a pod CIDR`, async () => (await cidrOf(name))?.[0], 60_000, procs);

  beforeAll(async () => {
    if (!existsSync(OPERATOR)) execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit' });
    await cp.start({ name: 'optest' });
    kc = cp.client;
  });

  afterAll(async () => {
    for (const p of operators) await stopProc(p);
    await cp.stop({ keepDir: !!process.env['KEEP_OPERATOR_TEST_DIR'] });
  });

  let opA: { proc: Proc; port: number };

  it('registers the six CRDs and waits until they are Established', async () => {
    opA = await startOperator();
    const names = ['ciliumnetworkpolicies', 'ciliumclusterwidenetworkpolicies', 'ciliumnodes', 'ciliumendpoints', 'ciliumidentities'];
    for (const n of names) {
      const crd = await kc.get<{ status: { conditions: { type: string; status: string }[]; acceptedNames: { shortNames?: string[] } } }>(Resources.CustomResourceDefinition, `${n}.cilium.io`);
      expect(crd.status.conditions.find((c) => c.type === 'Established')?.status, n).toBe('True');
      expect(crd.status.acceptedNames.shortNames?.length, n).toBeGreaterThan(0);
    }
    await waitUntil('operator A is leader', async () => (await opStatus(opA.port)).leader, 60_000, [opA.proc]);
  });

  it('accepts every real upstream policy (strict field validation) and rejects invalid ones with clear messages', async () => {
    await kc.create(Resources.Namespace, { metadata: { name: 'optest-policies' } } as KubeObject).catch(() => undefined);
    const testdata = join(ROOT, 'packages', 'k8s', 'src', 'testdata');
    const defects = new Set(['cilium-policy-examples/l7/http/http.yaml', 'cilium-policy-examples/l4/l3_l4_combined.yaml']);
    let n = 0;
    for (const file of walk(testdata)) {
      const rel = relative(testdata, file);
      for (const d of parseAllDocuments(renderTemplate(readFileSync(file, 'utf8')))) {
        const obj = d.toJS() as { apiVersion?: string; kind?: string; metadata: { name: string; namespace?: string } } | null;
        if (!obj || !String(obj.apiVersion).startsWith('cilium.io/') || !/NetworkPolicy$/.test(String(obj.kind))) continue;
        const cluster = obj.kind === 'CiliumClusterwideNetworkPolicy';
        const r = cluster ? Resources.CiliumClusterwideNetworkPolicy : Resources.CiliumNetworkPolicy;
        const body = { ...obj, metadata: { name: `p${++n}-${obj.metadata.name}`.slice(0, 60).replace(/[^a-z0-9.-]/g, '-').replace(/-+$/, '') } };
        const post = () => kc.request('POST', resourcePath(r, cluster ? undefined : 'optest-policies'), { body, query: { fieldValidation: 'Strict' } });
        if (defects.has(rel)) {
          await expect(post(), rel).rejects.toThrow(/unknown field/);
        } else {
          await expect(post().then(() => 'ok'), rel).resolves.toBe('ok');
        }
      }
    }
    expect(n).toBeGreaterThanOrEqual(70);

    const bad = async (spec: unknown): Promise<string> => {
      try {
        await kc.create(Resources.CiliumNetworkPolicy, { metadata: { name: `bad-${++n}`, namespace: 'optest-policies' }, spec } as KubeObject);
      } catch (e) {
        expect(e).toBeInstanceOf(KubeApiError);
        expect((e as KubeApiError).status).toBe(422);
        return (e as Error).message;
      }
      throw new Error('the apiserver accepted an invalid policy');
    };
    const sel = { matchLabels: { app: 'x' } };
    expect(await bad({ endpointSelector: sel, ingress: [{ toPorts: [{ ports: [{ port: '70000', protocol: 'TCP' }] }] }] })).toMatch(/spec\.ingress\[0\]\.toPorts\[0\]\.ports\[0\]\.port: Invalid value: "70000": spec\.ingress\[0\]\.toPorts\[0\]\.ports\[0\]\.port in body should match/);
    expect(await bad({ endpointSelector: sel, egress: [{ toPorts: [{ ports: [{ port: '53', protocol: 'XTP' }] }] }] })).toMatch(/spec\.egress\[0\]\.toPorts\[0\]\.ports\[0\]\.protocol: Unsupported value: "XTP": supported values: "TCP", "UDP", "SCTP", "ANY"/);
    expect(await bad({ endpointSelector: sel, ingress: [{ toPorts: { ports: [{ port: '80' }] } }] })).toMatch(/spec\.ingress\[0\]\.toPorts: Invalid value: "object": spec\.ingress\[0\]\.toPorts in body must be of type array/);
    expect(await bad({ endpointSelector: sel, nodeSelector: sel })).toMatch(/"spec" must validate one and only one schema \(oneOf\)\. Found 2 valid alternatives/);
    expect(await bad({ ingress: [{ fromEntities: ['world'] }] })).toMatch(/"spec" must validate one and only one schema \(oneOf\)\. Found none valid/);
    expect(await bad({ endpointSelector: sel, ingress: [{ fromEntities: ['internet'] }] })).toMatch(/fromEntities\[0\]: Unsupported value: "internet"/);
  });

  it('gives CiliumNodes distinct CIDRs from the pool list, frees a CIDR when its Node goes, reports exhaustion', async () => {
    for (const n of ['optest-n1', 'optest-n2', 'optest-n3']) await addNode(n);
    const cidrs = await Promise.all(['optest-n1', 'optest-n2', 'optest-n3'].map((n) => waitCidr(n, [opA.proc])));
    expect(new Set(cidrs).size).toBe(3);
    expect([...cidrs].sort()).toEqual(['10.200.0.0/24', '10.200.1.0/24', '10.201.0.0/24']);

    // Pool full: the fourth node gets an operator-status error and a Warning Event, and no CIDR.
    await addNode('optest-n4');
    const err = await waitUntil('exhaustion reported on optest-n4', async () =>
      (await kc.get<CiliumNode>(Resources.CiliumNode, 'optest-n4')).status?.ipam?.['operator-status']?.error, 60_000, [opA.proc]);
    expect(err).toMatch(/exhausted.*EIPAMEXHAUSTED/);
    expect(await cidrOf('optest-n4')).toBeUndefined();
    // the Event is written after the status (its own request): wait for it rather than race it
    await waitUntil('PodCIDRPoolExhausted Event for optest-n4', async () =>
      (await kc.list<{ reason: string; involvedObject: { name: string } }>(Resources.Event, { namespace: 'default' })).items
        .some((e) => e.reason === 'PodCIDRPoolExhausted' && e.involvedObject.name === 'optest-n4'), 60_000, [opA.proc]);
    expect(readFileSync(opA.proc.log, 'utf8')).toMatch(/"code":"EIPAMEXHAUSTED".*"hint"/);

    // Deleting n2's Node deletes its CiliumNode and frees its CIDR, which the waiting n4 then gets.
    const n2 = await cidrOf('optest-n2');
    await kc.delete(Resources.Node, 'optest-n2');
    await waitUntil('CiliumNode optest-n2 deleted', async () => (await kc.tryGet(Resources.CiliumNode, 'optest-n2')) === undefined, 60_000, [opA.proc]);
    expect(await waitCidr('optest-n4', [opA.proc])).toBe(n2?.[0]);
  });

  it('an operator restart reassigns nothing', async () => {
    const before = new Map<string, string | undefined>();
    const rvs = new Map<string, string | undefined>();
    for (const cn of (await kc.list<CiliumNode>(Resources.CiliumNode)).items) {
      before.set(cn.metadata.name, cn.spec?.ipam?.podCIDRs?.join(','));
      rvs.set(cn.metadata.name, cn.metadata.resourceVersion);
    }
    await addNode('optest-n5'); // waits (pool full) across the restart
    await stopProc(opA.proc);
    expect(opA.proc.child.exitCode).toBe(0);
    opA = await startOperator();
    await waitUntil('restarted operator is leader and re-derived 3 CIDRs', async () => {
      const s = await opStatus(opA.port);
      return s.leader && s.pools?.reduce((n, p) => n + p.used, 0) === 3;
    }, 60_000, [opA.proc]);
    await sleep(2000);
    for (const cn of (await kc.list<CiliumNode>(Resources.CiliumNode)).items) {
      if (!before.has(cn.metadata.name)) continue;
      expect(cn.spec?.ipam?.podCIDRs?.join(','), cn.metadata.name).toBe(before.get(cn.metadata.name));
      expect(cn.metadata.resourceVersion, `${cn.metadata.name} untouched`).toBe(rvs.get(cn.metadata.name));
    }
    expect(await cidrOf('optest-n5')).toBeUndefined();
    const log = readFileSync(opA.proc.log, 'utf8');
    expect(log).not.toMatch(/pod CIDR allocated/);
    expect(log).not.toMatch(/CRD (created|updated)/);
    expect(log).toMatch(/CRD up to date|CRDs established/);
  });

  it('garbage-collects CiliumEndpoints of gone pods and unused CiliumIdentities', async () => {
    await kc.create(Resources.Pod, { metadata: { name: 'live', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'quay.io/cilium/json-mock:v1.3.8' }] } } as KubeObject);
    await kc.create(Resources.CiliumEndpoint, { metadata: { name: 'live', namespace: 'default' }, status: { identity: { id: 40001 } } } as KubeObject);
    await kc.create(Resources.CiliumEndpoint, { metadata: { name: 'ghost', namespace: 'default' }, status: { identity: { id: 40002 } } } as KubeObject);
    for (const id of ['40001', '40002', '40003']) {
      await kc.create(Resources.CiliumIdentity, { metadata: { name: id }, 'security-labels': { 'k8s:app': `a${id}` } } as KubeObject);
    }
    await waitUntil('ghost CEP deleted', async () => (await kc.tryGet(Resources.CiliumEndpoint, 'ghost', 'default')) === undefined, 60_000, [opA.proc]);
    await waitUntil('unused identities deleted', async () =>
      (await kc.tryGet(Resources.CiliumIdentity, '40002')) === undefined && (await kc.tryGet(Resources.CiliumIdentity, '40003')) === undefined, 60_000, [opA.proc]);
    expect(await kc.tryGet(Resources.CiliumEndpoint, 'live', 'default')).toBeDefined();
    expect(await kc.tryGet(Resources.CiliumIdentity, '40001')).toBeDefined();
  });

  it('two operators: only the leader allocates; the standby takes over when the leader dies', async () => {
    const opB = await startOperator();
    await sleep(5000);
    const [a, b] = [await opStatus(opA.port), await opStatus(opB.port)];
    expect([a.leader, b.leader]).toEqual([true, false]);
    const lease = await kc.get<Lease>(Resources.Lease, LEASE, NS);
    expect(lease.spec?.holderIdentity).toBe(a.identity);

    // Room for n5 (waiting since the restart test): A allocates, B stays silent.
    const freed = await cidrOf('optest-n1');
    await kc.delete(Resources.Node, 'optest-n1');
    expect(await waitCidr('optest-n5', [opA.proc, opB.proc])).toBe(freed?.[0]);
    expect(readFileSync(opB.proc.log, 'utf8')).not.toMatch(/pod CIDR allocated|became leader/);

    // The leader dies without releasing: B takes over after the lease expires and allocates.
    await stopProc(opA.proc, 'SIGKILL');
    await waitUntil('B becomes leader', async () => (await opStatus(opB.port)).leader, 90_000, [opB.proc]);
    await addNode('optest-n6');
    const freed3 = await cidrOf('optest-n3');
    await kc.delete(Resources.Node, 'optest-n3');
    expect(await waitCidr('optest-n6', [opB.proc])).toBe(freed3?.[0]);
    const all = (await kc.list<CiliumNode>(Resources.CiliumNode)).items.flatMap((cn) => cn.spec?.ipam?.podCIDRs ?? []);
    expect(new Set(all).size).toBe(all.length);
    // A clean stop releases the lease.
    await stopProc(opB.proc);
    const released = await kc.get<Lease>(Resources.Lease, LEASE, NS);
    expect(released.spec?.holderIdentity ?? '').toBe('');
  });

  it('the Informer survives an apiserver restart: resumes, no duplicate adds for unchanged objects', async () => {
    const adds: string[] = [];
    const deletes: string[] = [];
    const inf = new Informer<CiliumNode>(kc, Resources.CiliumNode, { minBackoffMs: 200, maxBackoffMs: 2000 }).on({
      onAdd: (o) => adds.push(o.metadata.name),
      onDelete: (o) => deletes.push(o.metadata.name),
    });
    inf.start();
    await inf.synced;
    const initial = [...adds].sort();
    expect(initial.length).toBeGreaterThan(0);
    await cp.stopApiserver();
    await sleep(1000);
    await cp.startApiserver();
    await kc.create<CiliumNode>(Resources.CiliumNode, { metadata: { name: 'optest-after-restart' }, spec: {} });
    await waitUntil('informer sees the new CiliumNode', async () => inf.get('optest-after-restart') !== undefined, 60_000, [cp.apiserver]);
    await kc.delete(Resources.CiliumNode, 'optest-after-restart');
    await waitUntil('informer sees the delete', async () => inf.get('optest-after-restart') === undefined, 60_000, [cp.apiserver]);
    await inf.stop();
    expect(adds.filter((n) => n !== 'optest-after-restart').sort()).toEqual(initial);
    expect(adds.filter((n) => n === 'optest-after-restart')).toHaveLength(1);
    expect(deletes).toEqual(['optest-after-restart']);
    expect(inf.stats.watches).toBeGreaterThan(1);
  });

  it('the Informer re-lists after 410 Gone and emits only the difference', async () => {
    const events: string[] = [];
    const inf = new Informer<CiliumNode>(kc, Resources.CiliumNode, { minBackoffMs: 200, maxBackoffMs: 2000 }).on({
      onAdd: (o) => events.push(`add ${o.metadata.name}`),
      onUpdate: (o) => events.push(`update ${o.metadata.name}`),
      onDelete: (o) => events.push(`delete ${o.metadata.name}`),
    });
    inf.start();
    await inf.synced;
    const names = inf.list().map((o) => o.metadata.name).sort();
    expect(names).toContain('optest-n4');
    events.length = 0;
    // While the apiserver is down: delete a CiliumNode behind its back and compact etcd past the informer's
    // resourceVersion, so the resumed watch gets 410 Gone and the informer must re-list.
    await cp.stopApiserver();
    cp.etcdctl('del', '/registry/cilium.io/ciliumnodes/optest-n4');
    const rev = (JSON.parse(cp.etcdctl('put', '/optest/bump', 'x', '-w', 'json')) as { header: { revision: number } }).header.revision;
    cp.etcdctl('compact', String(rev));
    await cp.startApiserver();
    await waitUntil('informer re-listed and dropped optest-n4', async () => inf.get('optest-n4') === undefined && inf.stats.gone > 0, 90_000, [cp.apiserver]);
    await inf.stop();
    expect(events).toEqual(['delete optest-n4']);
    expect(inf.list().map((o) => o.metadata.name).sort()).toEqual(names.filter((n) => n !== 'optest-n4'));
  });
  it('runs under the chart\'s RBAC (helm template): leader, allocation, exhaustion report, GC without a 403', async () => {
    const helmHome = join(cp.workDir, 'helm');
    const rendered = execFileSync(join(cp.bin, 'helm'), ['template', 'cilium', join(ROOT, 'install', 'kubernetes', 'cilium'), '-n', NS], {
      encoding: 'utf8',
      env: { ...process.env, HELM_CACHE_HOME: join(helmHome, 'c'), HELM_CONFIG_HOME: join(helmHome, 'cf'), HELM_DATA_HOME: join(helmHome, 'd') },
    });
    const docs = parseAllDocuments(rendered).map((d) => d.toJS() as { kind?: string; metadata?: { name?: string }; subjects?: { kind: string; name: string; namespace?: string }[] } | null);
    const role = docs.find((d) => d?.kind === 'ClusterRole' && d.metadata?.name === 'cilium-operator');
    const binding = docs.find((d) => d?.kind === 'ClusterRoleBinding' && d.metadata?.name === 'cilium-operator');
    expect(role, 'chart renders ClusterRole cilium-operator').toBeDefined();
    expect(binding, 'chart renders ClusterRoleBinding cilium-operator').toBeDefined();
    const sa = binding!.subjects!.find((x) => x.kind === 'ServiceAccount')!;
    const rbac = (plural: string) => ({ group: 'rbac.authorization.k8s.io', version: 'v1', plural, kind: '', namespaced: false });
    await kc.request('POST', resourcePath(rbac('clusterroles')), { body: role });
    await kc.request('POST', resourcePath(rbac('clusterrolebindings')), { body: binding });
    // An x509 user named like the service account is what RBAC's ServiceAccount subject matches.
    const user = `system:serviceaccount:${sa.namespace ?? NS}:${sa.name}`;
    const opKubeconfig = cp.userKubeconfig('op', user);
    const op = await startOperator([`--kubeconfig=${opKubeconfig}`]);
    await waitUntil('RBAC operator is leader', async () => (await opStatus(op.port)).leader, 90_000, [op.proc]);
    // Fill the pool (the 410 test removed optest-n4 behind the operators' back, so one CIDR may be free),
    // then one more node: exhaustion status + Event need their permissions; a deleted Node frees a CIDR.
    await addNode('optest-n7');
    await waitCidr('optest-n7', [op.proc]);
    let extra = 8;
    for (;;) {
      await addNode(`optest-n${extra}`);
      const got = await waitUntil(`optest-n${extra} gets a CIDR or an exhaustion error`, async () => {
        const cn = await kc.get<CiliumNode>(Resources.CiliumNode, `optest-n${extra}`);
        return cn.spec?.ipam?.podCIDRs?.[0] ? 'cidr' : cn.status?.ipam?.['operator-status']?.error ? 'exhausted' : undefined;
      }, 60_000, [op.proc]);
      if (got === 'exhausted') break;
      extra++;
      expect(extra).toBeLessThan(12);
    }
    const freed = await cidrOf('optest-n7');
    await kc.delete(Resources.Node, 'optest-n7');
    expect(await waitCidr(`optest-n${extra}`, [op.proc])).toBe(freed?.[0]);
    await sleep(4000); // one GC round at least
    const log = readFileSync(op.proc.log, 'utf8');
    expect(log).toMatch(/PodCIDRPoolExhausted|EIPAMEXHAUSTED/);
    // A 403 shows as code EKUBE403 and the apiserver's "... is forbidden: User ..." (a bare "403" could be part of a pid or a timestamp).
    expect(log).not.toMatch(/\bforbidden\b|EKUBE403|could not (write|create)/i);
    await stopProc(op.proc);
  });
});
