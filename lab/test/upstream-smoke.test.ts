// The upstream binaries of lab/build-upstream.sh: every one reports the version pinned in lab/versions.env,
// and a real etcd + kube-apiserver pair (openssl-made certificates, loopback only, random free ports) comes
// up Ready and serves kubectl. Needs the built binaries (the first run builds them: long on 2 cores), so it
// lives outside the default vitest include: `npx vitest run --config lab/vitest.config.ts`.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestControlPlane } from './lib/test-control-plane.js';
import type { Proc } from './lib/test-process.js';

const LAB = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);

function readVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(LAB, 'versions.env'), 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

function need(v: Record<string, string>, key: string): string {
  const val = v[key];
  if (val === undefined) throw new Error(`lab/versions.env has no ${key}`);
  return val;
}

/** Runs (or reuses) the build; its last stdout line is the bin dir. */
function buildUpstream(): string {
  const out = execFileSync(join(LAB, 'build-upstream.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  const lines = out.trim().split('\n');
  const bin = lines[lines.length - 1];
  if (!bin) throw new Error('lab/build-upstream.sh printed no bin dir');
  return bin;
}

const versions = readVersions();
const K8S = need(versions, 'K8S_VERSION');
const ETCD = need(versions, 'ETCD_VERSION');
const HELM = need(versions, 'HELM_VERSION');
const COREDNS = need(versions, 'COREDNS_VERSION');

describe('upstream binaries', () => {
  let bin = '';
  let dir = '';

  beforeAll(() => {
    bin = buildUpstream();
    dir = mkdtempSync(join(tmpdir(), 'cilium-ts-upstream-smoke-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('report the pinned versions', async () => {
    const b = (name: string) => join(bin, name);
    for (const c of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
      const { stdout } = await run(b(c), ['--version']);
      expect(stdout.trim(), c).toBe(`Kubernetes ${K8S}`);
    }
    const kc = JSON.parse((await run(b('kubectl'), ['version', '--client', '-o', 'json'])).stdout) as { clientVersion: { gitVersion: string; major: string; minor: string } };
    expect(kc.clientVersion.gitVersion).toBe(K8S);
    expect(`v${kc.clientVersion.major}.${kc.clientVersion.minor}`).toBe(K8S.split('.').slice(0, 2).join('.'));
    expect((await run(b('etcd'), ['--version'])).stdout).toContain(`etcd Version: ${ETCD.slice(1)}`);
    expect((await run(b('etcdctl'), ['version'])).stdout).toContain(`etcdctl version: ${ETCD.slice(1)}`);
    const helmEnv = { ...process.env, HELM_CACHE_HOME: join(dir, 'helm', 'cache'), HELM_CONFIG_HOME: join(dir, 'helm', 'config'), HELM_DATA_HOME: join(dir, 'helm', 'data') };
    expect((await run(b('helm'), ['version', '--short'], { env: helmEnv })).stdout.trim()).toMatch(new RegExp(`^${HELM.replace(/\./g, '\\.')}(\\+|$)`));
    expect((await run(b('coredns'), ['-version'])).stdout).toContain(`CoreDNS-${COREDNS.slice(1)}`);
  });

  it('run etcd + kube-apiserver on loopback and serve kubectl', async () => {
    const cp = new TestControlPlane();
    let procs: (Proc | undefined)[] = [];
    try {
      // waits for etcd /health, /readyz and the system namespaces
      await cp.start({
        name: 'smoke', bin, parentDir: dir, authorizationMode: 'Node,RBAC', disableAdmissionPlugins: [],
        extraSans: 'DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1',
      });
      procs = [cp.apiserver, cp.etcd];
      const kubectl = (...args: string[]) => run(join(bin, 'kubectl'), [`--kubeconfig=${cp.kubeconfig}`, ...args], { env: { ...process.env, HOME: cp.workDir } });

      expect((await kubectl('get', '--raw', '/readyz')).stdout.trim()).toBe('ok');

      const version = JSON.parse((await kubectl('get', '--raw', '/version')).stdout) as { gitVersion: string };
      expect(version.gitVersion).toBe(K8S);

      // The system namespaces are created by the apiserver's own controller shortly after it is ready.
      const list = JSON.parse((await kubectl('get', 'ns', '-o', 'json')).stdout) as { items: { metadata: { name: string } }[] };
      const names = list.items.map((i) => i.metadata.name);
      expect(names).toEqual(expect.arrayContaining(['default', 'kube-system', 'kube-public']));
      const table = (await kubectl('get', 'ns')).stdout;
      expect(table).toMatch(/^NAME\s+STATUS\s+AGE/);
      expect(table).toMatch(/^kube-system\s+Active/m);

      // Write and read back through the apiserver into etcd.
      const ns = `upstream-smoke-${process.pid}`;
      await kubectl('create', 'namespace', ns);
      expect((await kubectl('get', 'ns', ns, '-o', 'jsonpath={.status.phase}')).stdout).toBe('Active');
      const keys = cp.etcdctl('get', '--prefix', '--keys-only', '/registry/namespaces/');
      expect(keys).toContain(`/registry/namespaces/${ns}`);
    } finally {
      await cp.stop();
    }
    for (const p of procs) expect(p?.child.exitCode ?? p?.child.signalCode, 'stopped').not.toBeNull();
  });
});
