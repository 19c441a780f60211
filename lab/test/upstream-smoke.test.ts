// The upstream binaries of lab/build-upstream.sh: every one reports the version pinned in lab/versions.env,
// and a real etcd + kube-apiserver pair (openssl-made certificates, loopback only, random free ports) comes
// up Ready and serves kubectl. Needs the built binaries (the first run builds them: long on 2 cores), so it
// lives outside the default vitest include: `npx vitest run --config lab/vitest.config.ts`.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, makeLoopbackCerts } from './lib/fixtures.js';

const LAB = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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



/** A CA, a serving cert for 127.0.0.1/localhost, an admin client cert (system:masters), the SA key. */

interface Proc {
  child: ChildProcess;
  log: string;
  exited: Promise<number | null>;
}

function start(bin: string, args: string[], log: string): Proc {
  const fd = openSync(log, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, log, exited };
}

function tail(p: Proc | undefined): string {
  if (!p) return '';
  try {
    return readFileSync(p.log, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '';
  }
}

async function stop(p: Proc | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const done = await Promise.race([p.exited.then(() => true), sleep(20_000).then(() => false)]);
  if (!done) {
    p.child.kill('SIGKILL');
    await p.exited;
  }
}

async function waitFor(what: string, proc: Proc, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`${what}: the process exited with ${proc.child.exitCode}\n${tail(proc)}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms\n${tail(proc)}`);
    await sleep(500);
  }
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
    const work = join(dir, 'cp');
    execFileSync('mkdir', ['-p', join(work, 'etcd'), join(work, 'certs')]);
    const certs = join(work, 'certs');
    makeLoopbackCerts(certs, 'upstream-smoke-ca', 'DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1');
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    let etcd: Proc | undefined;
    let api: Proc | undefined;
    try {
      etcd = start(join(bin, 'etcd'), [
        '--name=smoke',
        `--data-dir=${join(work, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=smoke=http://127.0.0.1:${etcdPeer}`,
        '--unsafe-no-fsync',
      ], join(work, 'etcd.log'));
      await waitFor('etcd /health', etcd, async () => {
        const r = await fetch(`http://127.0.0.1:${etcdClient}/health`);
        return r.ok && ((await r.json()) as { health?: string }).health === 'true';
      }, 60_000);

      api = start(join(bin, 'kube-apiserver'), [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        '--endpoint-reconciler-type=none',
        `--secure-port=${apiPort}`,
        `--cert-dir=${certs}`,
        `--tls-cert-file=${join(certs, 'apiserver.crt')}`,
        `--tls-private-key-file=${join(certs, 'apiserver.key')}`,
        `--client-ca-file=${join(certs, 'ca.crt')}`,
        '--service-account-issuer=https://kubernetes.default.svc',
        `--service-account-key-file=${join(certs, 'sa.key')}`,
        `--service-account-signing-key-file=${join(certs, 'sa.key')}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--authorization-mode=Node,RBAC',
        '--allow-privileged=true',
      ], join(work, 'apiserver.log'));

      const kubeconfig = join(work, 'admin.kubeconfig');
      writeFileSync(kubeconfig, [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: smoke',
        '  cluster:',
        `    server: https://127.0.0.1:${apiPort}`,
        `    certificate-authority: ${join(certs, 'ca.crt')}`,
        'users:',
        '- name: admin',
        '  user:',
        `    client-certificate: ${join(certs, 'admin.crt')}`,
        `    client-key: ${join(certs, 'admin.key')}`,
        'contexts:',
        '- name: smoke',
        '  context: {cluster: smoke, user: admin}',
        'current-context: smoke',
        '',
      ].join('\n'));
      const kubectl = (...args: string[]) => run(join(bin, 'kubectl'), [`--kubeconfig=${kubeconfig}`, ...args], { env: { ...process.env, HOME: work } });

      await waitFor('kube-apiserver /readyz', api, async () => (await kubectl('get', '--raw', '/readyz')).stdout.trim() === 'ok', 180_000);

      const version = JSON.parse((await kubectl('get', '--raw', '/version')).stdout) as { gitVersion: string };
      expect(version.gitVersion).toBe(K8S);

      // The system namespaces are created by the apiserver's own controller shortly after it is ready.
      let names: string[] = [];
      await waitFor('system namespaces', api, async () => {
        const list = JSON.parse((await kubectl('get', 'ns', '-o', 'json')).stdout) as { items: { metadata: { name: string } }[] };
        names = list.items.map((i) => i.metadata.name);
        return ['default', 'kube-system', 'kube-public'].every((n) => names.includes(n));
      }, 60_000);
      expect(names).toEqual(expect.arrayContaining(['default', 'kube-system', 'kube-public']));
      const table = (await kubectl('get', 'ns')).stdout;
      expect(table).toMatch(/^NAME\s+STATUS\s+AGE/);
      expect(table).toMatch(/^kube-system\s+Active/m);

      // Write and read back through the apiserver into etcd.
      const ns = `upstream-smoke-${process.pid}`;
      await kubectl('create', 'namespace', ns);
      expect((await kubectl('get', 'ns', ns, '-o', 'jsonpath={.status.phase}')).stdout).toBe('Active');
      const keys = (await run(join(bin, 'etcdctl'), [`--endpoints=http://127.0.0.1:${etcdClient}`, 'get', '--prefix', '--keys-only', '/registry/namespaces/'])).stdout;
      expect(keys).toContain(`/registry/namespaces/${ns}`);
    } finally {
      await stop(api);
      await stop(etcd);
    }
    for (const p of [api, etcd]) expect(p?.child.exitCode ?? p?.child.signalCode, 'stopped').not.toBeNull();
  });
});
