// etcd + kube-apiserver on loopback for the lab tests that need a real API server but no lab: a work dir
// under the tmp dir, openssl certs (fixtures.ts), etcd (--unsafe-no-fsync) and kube-apiserver on free ports,
// an admin kubeconfig and a KubeClient on it; start() returns once etcd is healthy, /readyz answers and the
// system namespaces exist. One instance per test file:
//   const cp = new TestControlPlane();  beforeAll: await cp.start({ name: 'optest' });  afterAll: await cp.stop();
// The tests' own processes (operators, agents) use startProc/stopProc/waitUntil of test-process.ts.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient, Resources, loadKubeConfig } from '@cilium-ts/k8s';
import { writeKubeconfig } from '../../src/kubeconfig.js';
import { freePort, makeLoopbackCerts, signClientCert, upstreamBin } from './fixtures.js';
import { startProc, stopProc, waitUntil, type Proc } from './test-process.js';

export interface TestControlPlaneOptions {
  /** Names the work dir (cilium-ts-<name>-*), the etcd member, the CA and the kubeconfig's cluster/context. */
  name: string;
  /** The upstream bin dir (default: upstreamBin(), which builds or reuses lab/build-upstream.sh's). */
  bin?: string;
  /** Where the work dir is made (default: the OS tmp dir). */
  parentDir?: string;
  /** More subjectAltNames on the apiserver's serving cert (openssl syntax: 'DNS:kubernetes,IP:10.0.0.1'). */
  extraSans?: string;
  /** --service-cluster-ip-range (default 10.0.0.0/24: the "kubernetes" Service is 10.0.0.1). */
  serviceCidr?: string;
  /** --authorization-mode (default RBAC). */
  authorizationMode?: string;
  /**
   * --disable-admission-plugins (default ServiceAccount: no controller-manager runs, so pods the tests create
   * would wait for service account tokens nobody makes); [] disables none.
   */
  disableAdmissionPlugins?: string[];
  /** Appended to the apiserver's arguments. */
  extraApiserverArgs?: string[];
  /** How long to wait for etcd, /readyz and the system namespaces, each (default 180 s). */
  readyTimeoutMs?: number;
}

const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public'];

export class TestControlPlane {
  /** The upstream bin dir in use. */
  bin = '';
  workDir = '';
  /** ca.crt/key, sa.key, apiserver.crt/key, admin.crt/key (fixtures.ts makeLoopbackCerts). */
  certsDir = '';
  /** The admin (system:masters) kubeconfig. */
  kubeconfig = '';
  /** http://127.0.0.1:<port> */
  etcdEndpoint = '';
  apiserverPort = 0;
  etcd: Proc | undefined;
  #api: Proc | undefined;
  #apiArgs: string[] = [];
  #client: KubeClient | undefined;
  #readyMs = 180_000;
  #name = '';

  /** https://127.0.0.1:<port> */
  get apiserverUrl(): string {
    return `https://127.0.0.1:${this.apiserverPort}`;
  }

  /** The running kube-apiserver (undefined before start and after stopApiserver). */
  get apiserver(): Proc | undefined {
    return this.#api;
  }

  /** A KubeClient with the admin kubeconfig. */
  get client(): KubeClient {
    if (!this.#client) throw new Error('TestControlPlane: start() first');
    return this.#client;
  }

  async start(o: TestControlPlaneOptions): Promise<this> {
    if (this.workDir) throw new Error('TestControlPlane: already started');
    this.#name = o.name;
    this.#readyMs = o.readyTimeoutMs ?? 180_000;
    this.bin = o.bin ?? upstreamBin();
    this.workDir = mkdtempSync(join(o.parentDir ?? tmpdir(), `cilium-ts-${o.name}-`));
    this.certsDir = join(this.workDir, 'certs');
    const certs = this.certsDir;
    mkdirSync(certs);
    mkdirSync(join(this.workDir, 'etcd'));
    makeLoopbackCerts(certs, `${o.name}-ca`, o.extraSans ?? '');
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    this.etcdEndpoint = `http://127.0.0.1:${etcdClient}`;
    this.apiserverPort = apiPort;
    this.etcd = startProc('etcd', join(this.bin, 'etcd'), [
      `--name=${o.name}`, `--data-dir=${join(this.workDir, 'etcd')}`,
      `--listen-client-urls=${this.etcdEndpoint}`, `--advertise-client-urls=${this.etcdEndpoint}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=${o.name}=http://127.0.0.1:${etcdPeer}`, '--unsafe-no-fsync',
    ], join(this.workDir, 'etcd.log'));
    const disable = o.disableAdmissionPlugins ?? ['ServiceAccount'];
    this.#apiArgs = [
      `--etcd-servers=${this.etcdEndpoint}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1',
      '--endpoint-reconciler-type=none', `--secure-port=${apiPort}`, `--cert-dir=${certs}`,
      `--tls-cert-file=${join(certs, 'apiserver.crt')}`, `--tls-private-key-file=${join(certs, 'apiserver.key')}`,
      `--client-ca-file=${join(certs, 'ca.crt')}`, '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${join(certs, 'sa.key')}`, `--service-account-signing-key-file=${join(certs, 'sa.key')}`,
      `--service-cluster-ip-range=${o.serviceCidr ?? '10.0.0.0/24'}`, `--authorization-mode=${o.authorizationMode ?? 'RBAC'}`,
      '--allow-privileged=true',
      ...(disable.length ? [`--disable-admission-plugins=${disable.join(',')}`] : []),
      ...(o.extraApiserverArgs ?? []),
    ];
    this.kubeconfig = this.#writeKubeconfig('admin');
    this.#client = new KubeClient(loadKubeConfig(this.kubeconfig));
    await waitUntil('etcd /health', async () => {
      const r = await fetch(`${this.etcdEndpoint}/health`);
      return r.ok && ((await r.json()) as { health?: string }).health === 'true';
    }, this.#readyMs, [this.etcd]);
    await this.startApiserver();
    const kc = this.client;
    // created by the apiserver's own controllers a moment after /readyz
    await waitUntil(`namespaces ${SYSTEM_NAMESPACES.join(', ')}`, async () => {
      for (const ns of SYSTEM_NAMESPACES) if ((await kc.tryGet(Resources.Namespace, ns)) === undefined) return false;
      return true;
    }, this.#readyMs, [this.#api]);
    return this;
  }

  /** Starts kube-apiserver (again, after stopApiserver: same port, same etcd) and waits for /readyz. */
  async startApiserver(): Promise<void> {
    if (this.#api && this.#api.child.exitCode === null && this.#api.child.signalCode === null) throw new Error('TestControlPlane: kube-apiserver is running');
    const api = startProc('kube-apiserver', join(this.bin, 'kube-apiserver'), this.#apiArgs, join(this.workDir, 'apiserver.log'));
    this.#api = api;
    const kc = this.client;
    await waitUntil('apiserver /readyz', async () => (await kc.request<string>('GET', '/readyz', { timeoutMs: 3000 })) !== undefined, this.#readyMs, [api]);
  }

  /** Stops kube-apiserver (SIGTERM, SIGKILL after 20 s); etcd keeps running. */
  async stopApiserver(): Promise<void> {
    await stopProc(this.#api);
  }

  /**
   * A client cert `<name>.crt/key` for user `cn` (group `org`) signed by the CA, and a kubeconfig with it:
   * returns the kubeconfig's path (<workDir>/<name>.kubeconfig).
   */
  userKubeconfig(name: string, cn: string, org?: string): string {
    signClientCert(this.certsDir, name, cn, org);
    return this.#writeKubeconfig(name);
  }

  /** Runs the upstream etcdctl against this etcd; its stdout. */
  etcdctl(...args: string[]): string {
    return execFileSync(join(this.bin, 'etcdctl'), [`--endpoints=${this.etcdEndpoint}`, ...args], { encoding: 'utf8' });
  }

  /** Stops the apiserver and etcd (by pid: SIGTERM, SIGKILL after 20 s) and removes the work dir (unless keepDir). */
  async stop(o: { keepDir?: boolean } = {}): Promise<void> {
    this.#client?.close();
    await stopProc(this.#api);
    await stopProc(this.etcd);
    if (this.workDir && !o.keepDir) rmSync(this.workDir, { recursive: true, force: true });
  }

  /** <workDir>/<cert>.kubeconfig for the client cert <cert>.crt/key. */
  #writeKubeconfig(cert: string): string {
    const path = join(this.workDir, `${cert}.kubeconfig`);
    writeKubeconfig({
      path, clusterName: this.#name, server: this.apiserverUrl, caFile: join(this.certsDir, 'ca.crt'), user: cert,
      client: { cert: join(this.certsDir, `${cert}.crt`), key: join(this.certsDir, `${cert}.key`) },
    });
    return path;
  }
}
