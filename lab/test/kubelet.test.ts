// The lab kubelet against the real control plane: `cilium-lab up --no-kubelets` gives etcd, the
// apiserver, controller-manager, scheduler, CoreDNS and one node netns; this test runs the kubelet (from
// source, bundled) in that node netns with the node's own credentials, and the reference `ptp` +
// `host-local` CNI plugins (scripts/build-go-tools.sh) so that CNI invocation is tested independently
// of Cilium. It checks: Node registration and NotReady -> Ready when a CNI config appears, the Lease,
// a json-mock pod Running/Ready with an IP from the CNI range and its netns annotation, a curl from
// another pod, ErrImagePull for an unknown image, a liveness restart, a hostNetwork pod using its
// service-account token, a kubelet restart that adopts running pods, and a deletion that leaves no
// netns, cgroup or IP behind. Mount points are existing empty host dirs (/mnt, /media): a missing one would
// be created on the host. Needs root, the upstream binaries and bin/cilium-lab. `make test-lab`.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApi, type KubeObject } from '../src/kubelet/kube-client.js';

const root = join(import.meta.dirname, '..', '..');
const labBin = join(root, 'bin', 'cilium-lab');
const suffix = Math.random().toString(36).slice(2, 7).replace(/^[0-9]/, 'k');
const labName = `kl${suffix}`;
const bundle = join(root, 'node_modules', '.cache', `lab-kubelet-test-${suffix}`, 'kubelet.mjs');
const subnet = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}`;

interface LabNode {
  name: string;
  netns: string;
  ip: string;
  kubeconfig: string;
  dir: string;
}

let api: KubeApi;
let node: LabNode;
let kubelet: ChildProcess | undefined;
let kubeletLog = '';
let ns = '';
let goTools = '';

function lab(args: string[]): string {
  const r = spawnSync(process.execPath, [labBin, ...args], { encoding: 'utf8', timeout: 900_000, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`cilium-lab ${args.join(' ')} exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

function logTail(): string {
  try {
    return readFileSync(kubeletLog, 'utf8').split('\n').slice(-40).join('\n');
  } catch {
    return '(no kubelet log)';
  }
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (${String(last)})` : ''}\n--- kubelet log ---\n${logTail()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function startKubelet(): void {
  const fd = openSync(kubeletLog, 'a');
  kubelet = spawn(
    'nsenter',
    [
      `--net=/run/netns/${node.netns}`, '--', process.execPath, bundle,
      '--lab', labName,
      '--node', node.name,
      '--kubeconfig', node.kubeconfig,
      '--node-ip', node.ip,
      '--cni-conf-dir', join(node.dir, 'cni', 'net.d'),
      '--cni-bin-dir', join(node.dir, 'cni', 'bin'),
      '--state-dir', node.dir,
      '--resolv-conf', join('/run/cilium-lab', labName, 'resolv.conf'),
      '--cgroup-root', `cilium-lab/${labName}/${node.name}`,
    ],
    { stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
}

async function stopKubelet(): Promise<void> {
  const k = kubelet;
  kubelet = undefined;
  if (!k || k.exitCode !== null || k.signalCode !== null) return;
  const exited = new Promise<void>((r) => k.once('exit', () => r()));
  k.kill('SIGTERM');
  await exited;
}

async function getPod(name: string): Promise<KubeObject | undefined> {
  const r = await api.request<KubeObject>('GET', `/api/v1/namespaces/${ns}/pods/${name}`);
  return r.status === 200 ? r.body : undefined;
}

async function createPod(name: string, spec: Record<string, unknown>): Promise<KubeObject> {
  const r = await api.call<KubeObject>('POST', `/api/v1/namespaces/${ns}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: name } }, spec: { nodeName: node.name, terminationGracePeriodSeconds: 5, ...spec } });
  return r.body;
}

type Status = { phase?: string; podIP?: string; conditions?: Array<{ type: string; status: string }>; containerStatuses?: Array<Record<string, any>> };
const statusOf = (p: KubeObject | undefined): Status => (p?.status ?? {}) as Status;
const isReady = (p: KubeObject | undefined): boolean => statusOf(p).conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

function cgroupDir(uid: string, h = 'pids'): string {
  return join('/sys/fs/cgroup', h, 'cilium-lab', labName, node.name, uid);
}

beforeAll(async () => {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit', cwd: root });
  execFileSync('bash', [join(root, 'lab', 'build-upstream.sh')], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 3_600_000 });
  goTools = execFileSync('bash', [join(root, 'scripts', 'build-go-tools.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1)!;
  mkdirSync(join(bundle, '..'), { recursive: true });
  await build({
    entryPoints: [join(root, 'lab', 'src', 'kubelet', 'cli.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    external: ['koffi'],
    banner: { js: "import { createRequire as __cr } from 'node:module';\nconst require = __cr(import.meta.url);" },
    logLevel: 'warning',
  });
  // The bundle is named kubelet.mjs under lab-kubelet-test-*: cli.ts runs when argv[1] matches.
  lab(['up', '--name', labName, '--nodes', '1', '--no-kubelets']);
  const state = JSON.parse(readFileSync(join('/run/cilium-lab', labName, 'state.json'), 'utf8')) as { nodes: LabNode[] };
  node = state.nodes[0]!;
  api = new KubeApi(join('/run/cilium-lab', labName, 'admin.kubeconfig'));
  kubeletLog = join(node.dir, 'kubelet-test.log');
  mkdirSync(join(node.dir, 'cni', 'bin'), { recursive: true });
  for (const p of ['ptp', 'host-local', 'loopback']) {
    const link = join(node.dir, 'cni', 'bin', p);
    if (!existsSync(link)) symlinkSync(join(goTools, p), link);
  }
  ns = `kt-${suffix}`;
  await api.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  // Pods need the namespace's default ServiceAccount (kube-controller-manager makes it).
  await waitFor('the default ServiceAccount', async () => ((await api.request('GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`)).status === 200 ? true : undefined));
  startKubelet();
});

afterAll(async () => {
  await stopKubelet();
  if (node) spawnSync(process.execPath, [labBin, 'down', '--name', labName], { stdio: 'inherit', timeout: 300_000 });
  rmSync(join(bundle, '..'), { recursive: true, force: true });
});

describe('lab kubelet', () => {
  it('registers its Node NotReady (no CNI config), with a Lease, and turns Ready when a conflist appears', async () => {
    const n = await waitFor('the Node', async () => {
      const r = await api.request<KubeObject>('GET', `/api/v1/nodes/${node.name}`);
      return r.status === 200 && (r.body.status?.['conditions'] as unknown[] | undefined)?.length ? r.body : undefined;
    });
    expect(n.metadata.labels).toMatchObject({ 'kubernetes.io/hostname': node.name, 'kubernetes.io/os': 'linux' });
    const st = n.status as { addresses: Array<{ type: string; address: string }>; conditions: Array<{ type: string; status: string; message: string }>; nodeInfo: { kubeletVersion: string }; capacity: Record<string, string> };
    expect(st.addresses).toEqual(expect.arrayContaining([{ type: 'InternalIP', address: node.ip }, { type: 'Hostname', address: node.name }]));
    expect(st.nodeInfo.kubeletVersion).toMatch(/^v1\./);
    expect(Number(st.capacity['pods'])).toBeGreaterThan(0);
    const ready = st.conditions.find((c) => c.type === 'Ready')!;
    expect(ready.status).toBe('False');
    expect(ready.message).toContain('NetworkPluginNotReady');
    expect(ready.message).toContain('cni plugin not initialized');
    const lease = await waitFor('the Lease', async () => {
      const r = await api.request<{ spec: { holderIdentity: string; renewTime: string } }>('GET', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${node.name}`);
      return r.status === 200 ? r.body : undefined;
    });
    expect(lease.spec.holderIdentity).toBe(node.name);

    writeFileSync(
      join(node.dir, 'cni', 'net.d', '10-labtest.conflist'),
      JSON.stringify({ cniVersion: '1.0.0', name: `labtest-${suffix}`, plugins: [{ type: 'ptp', ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: `${subnet}.0/24` }]], routes: [{ dst: '0.0.0.0/0' }] } }] }),
    );
    await waitFor('Node Ready', async () => {
      const r = await api.request<KubeObject>('GET', `/api/v1/nodes/${node.name}`);
      return (r.body.status?.['conditions'] as Array<{ type: string; status: string }>).some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    });
  });

  let mock: KubeObject;
  let mockIp = '';
  it('runs a json-mock pod: Running, Ready by its httpGet probe, IP from the CNI range, netns annotated, cgroups made', async () => {
    const created = await createPod('mock', {
      containers: [{ name: 'mock', image: 'quay.io/cilium/json-mock:v1.3.8', ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 } }],
    });
    mock = await waitFor('mock Ready', async () => {
      const p = await getPod('mock');
      return isReady(p) ? p : undefined;
    });
    const st = statusOf(mock);
    expect(st.phase).toBe('Running');
    mockIp = st.podIP ?? '';
    expect(mockIp.startsWith(`${subnet}.`)).toBe(true);
    expect((mock.status as { podIPs: unknown }).podIPs).toEqual([{ ip: mockIp }]);
    expect((mock.status as { hostIP: string }).hostIP).toBe(node.ip);
    const cs = st.containerStatuses![0]!;
    expect(cs).toMatchObject({ name: 'mock', ready: true, started: true, restartCount: 0 });
    expect(cs['state'].running.startedAt).toBeTruthy();
    const netns = mock.metadata.annotations?.['lab.cilium-ts.io/netns'] ?? '';
    expect(netns).toMatch(new RegExp(`^/run/netns/${labName}-${node.name}-[0-9a-f]{8}$`));
    expect(existsSync(netns)).toBe(true);
    expect(existsSync(join(cgroupDir(created.metadata.uid), 'mock'))).toBe(true);
    expect(existsSync(join('/sys/fs/cgroup/unified/cilium-lab', labName, node.name, created.metadata.uid))).toBe(true);
    // The pod's own resolv.conf and hosts, as seen by its process.
    const pid = readFileSync(join(cgroupDir(created.metadata.uid), 'mock', 'cgroup.procs'), 'utf8').trim().split('\n')[0]!;
    const hosts = execFileSync('nsenter', [`--target=${pid}`, '--mount', 'cat', '/etc/hosts'], { encoding: 'utf8' });
    expect(hosts).toContain(`${mockIp}\tmock`);
    const resolv = execFileSync('nsenter', [`--target=${pid}`, '--mount', 'cat', '/etc/resolv.conf'], { encoding: 'utf8' });
    expect(resolv).toContain(`search ${ns}.svc.cluster.local svc.cluster.local cluster.local`);
    expect(resolv).toContain('options ndots:5');
  });

  it('another pod curls it (alpine-curl image, restartPolicy Never -> Succeeded)', async () => {
    await createPod('client', {
      restartPolicy: 'Never',
      containers: [{ name: 'curl', image: 'docker.io/byrnedo/alpine-curl:0.1.8', env: [{ name: 'TARGET', value: mockIp }], command: ['ash', '-c', 'curl -sS --max-time 10 http://$TARGET:8080/public && command -v nslookup'] }],
    });
    const p = await waitFor('client Succeeded or Failed', async () => {
      const x = await getPod('client');
      const ph = statusOf(x).phase;
      return ph === 'Succeeded' || ph === 'Failed' ? x : undefined;
    });
    const uid = p.metadata.uid;
    const log = readFileSync(join(node.dir, 'logs', `${ns}_client_${uid}`, 'curl-0.log'), 'utf8');
    expect(statusOf(p).phase, log).toBe('Succeeded');
    expect(log).toContain('public information');
    expect(log).toMatch(/nslookup/);
    expect(statusOf(p).containerStatuses![0]!['state'].terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  });

  it('runs init containers first and mounts emptyDir, ConfigMap (as a directory) and Secret env', async () => {
    await api.call('POST', `/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { 'routing-mode': 'tunnel', 'debug': 'true' } });
    await api.call('POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'sec' }, stringData: { password: 's3cret' } });
    await createPod('vols', {
      restartPolicy: 'Never',
      volumes: [{ name: 'scratch', emptyDir: {} }, { name: 'cfg', configMap: { name: 'cfg' } }],
      initContainers: [{ name: 'init', image: 'quay.io/cilium/alpine-curl:v1.10.0', command: ['sh', '-c', 'echo from-init > /mnt/init.txt'], volumeMounts: [{ name: 'scratch', mountPath: '/mnt' }] }],
      containers: [{
        name: 'main',
        image: 'quay.io/cilium/alpine-curl:v1.10.0',
        command: ['sh', '-c', 'cat /mnt/init.txt; cat /media/routing-mode; echo; echo "$PASSWORD"; ls /media'],
        env: [{ name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'sec', key: 'password' } } }],
        volumeMounts: [{ name: 'scratch', mountPath: '/mnt' }, { name: 'cfg', mountPath: '/media', readOnly: true }],
      }],
    });
    const p = await waitFor('vols done', async () => {
      const x = await getPod('vols');
      const ph = statusOf(x).phase;
      return ph === 'Succeeded' || ph === 'Failed' ? x : undefined;
    });
    const log = readFileSync(join(node.dir, 'logs', `${ns}_vols_${p.metadata.uid}`, 'main-0.log'), 'utf8');
    expect(statusOf(p).phase, log).toBe('Succeeded');
    expect(log.split('\n')).toEqual(['from-init', 'tunnel', 's3cret', 'debug', 'routing-mode', '']);
    expect((p.status as { initContainerStatuses: Array<Record<string, any>> }).initContainerStatuses[0]!['state'].terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  });

  it('an unknown image is ErrImagePull, the pod stays Pending', async () => {
    await createPod('nope', { containers: [{ name: 'web', image: 'docker.io/library/nginx:1.27' }] });
    const p = await waitFor('ErrImagePull', async () => {
      const x = await getPod('nope');
      const w = statusOf(x).containerStatuses?.[0]?.['state']?.waiting as { reason?: string } | undefined;
      return w?.reason === 'ErrImagePull' || w?.reason === 'ImagePullBackOff' ? x : undefined;
    });
    expect(statusOf(p).phase).toBe('Pending');
    expect(JSON.stringify(statusOf(p).containerStatuses)).toContain('docker.io/library/nginx');
  });

  it('a failing liveness probe restarts the container', async () => {
    await createPod('live', {
      containers: [{ name: 'c', image: 'quay.io/cilium/alpine-curl:v1.10.0', command: ['sh', '-c', 'sleep 3600'], livenessProbe: { exec: { command: ['cat', '/tmp/does-not-exist'] }, periodSeconds: 1, failureThreshold: 2 } }],
    });
    const p = await waitFor('a restart', async () => {
      const x = await getPod('live');
      return (statusOf(x).containerStatuses?.[0]?.['restartCount'] ?? 0) >= 1 ? x : undefined;
    });
    expect(statusOf(p).containerStatuses![0]!['lastState'].terminated.exitCode).toBe(143);
  });

  it('a container over its memory limit is OOMKilled (cgroup v1 memory limit)', async () => {
    await createPod('oom', {
      restartPolicy: 'Never',
      containers: [{ name: 'c', image: 'quay.io/cilium/alpine-curl:v1.10.0', command: ['sh', '-c', 'x=$(head -c 300000000 /dev/zero | tr "\\0" a); echo survived'], resources: { limits: { memory: '32Mi' } } }],
    });
    const p = await waitFor('oom done', async () => {
      const x = await getPod('oom');
      const ph = statusOf(x).phase;
      return ph === 'Succeeded' || ph === 'Failed' ? x : undefined;
    });
    expect(statusOf(p).phase).toBe('Failed');
    expect(statusOf(p).containerStatuses![0]!['state'].terminated).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
  });

  it('a hostNetwork pod reaches the apiserver with its service-account token', async () => {
    await createPod('hostnet', {
      hostNetwork: true,
      restartPolicy: 'Never',
      containers: [{
        name: 'c',
        image: 'quay.io/cilium/alpine-curl:v1.10.0',
        command: ['sh', '-c', 'D=/var/run/secrets/kubernetes.io/serviceaccount; test "$(cat $D/namespace)" = "$NS" && curl -sS -o /dev/null -w "%{http_code}\\n" --cacert $D/ca.crt -H "Authorization: Bearer $(cat $D/token)" https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/$NS/pods'],
        env: [{ name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }],
      }],
    });
    const p = await waitFor('hostnet done', async () => {
      const x = await getPod('hostnet');
      const ph = statusOf(x).phase;
      return ph === 'Succeeded' || ph === 'Failed' ? x : undefined;
    });
    const log = readFileSync(join(node.dir, 'logs', `${ns}_hostnet_${p.metadata.uid}`, 'c-0.log'), 'utf8');
    expect(statusOf(p).phase, log).toBe('Succeeded');
    expect(statusOf(p).podIP).toBe(node.ip);
    expect(p.metadata.annotations?.['lab.cilium-ts.io/netns']).toBe(`/run/netns/${node.netns}`);
    // Authenticated as the service account: 403 (no RBAC for it), never 401.
    expect(log.trim()).toMatch(/^(200|403)$/);
  });

  it('a kubelet restart keeps pods running and adopts them', async () => {
    const before = statusOf(await getPod('mock')).containerStatuses![0]!;
    await stopKubelet();
    // The pod's process survives the kubelet.
    const procs = readFileSync(join(cgroupDir(mock.metadata.uid), 'mock', 'cgroup.procs'), 'utf8').trim();
    expect(procs).not.toBe('');
    startKubelet();
    await waitFor('the restarted kubelet to adopt mock', () => (readFileSync(kubeletLog, 'utf8').includes(`adopted container mock`) ? true : undefined));
    const p = await getPod('mock');
    expect(isReady(p)).toBe(true);
    expect(statusOf(p).podIP).toBe(mockIp);
    expect(statusOf(p).containerStatuses![0]!).toMatchObject({ containerID: before['containerID'], restartCount: 0 });
    const r = spawnSync('nsenter', [`--net=/run/netns/${node.netns}`, 'curl', '-sS', '--max-time', '5', `http://${mockIp}:8080/`], { encoding: 'utf8' });
    expect(r.stdout).toBe('{}');
  });

  it('runs postStart and preStop hooks; a hostPath lives under the node dir', async () => {
    const hostDir = `/var/lib/lab-hooks-${suffix}`;
    await createPod('hooks', {
      volumes: [{ name: 'h', hostPath: { path: hostDir, type: 'DirectoryOrCreate' } }],
      containers: [{
        name: 'c',
        image: 'quay.io/cilium/alpine-curl:v1.10.0',
        command: ['sh', '-c', 'sleep 3600'],
        volumeMounts: [{ name: 'h', mountPath: '/mnt' }],
        lifecycle: { postStart: { exec: { command: ['sh', '-c', 'echo started >> /mnt/log'] } }, preStop: { exec: { command: ['sh', '-c', 'echo stopping >> /mnt/log'] } } },
      }],
    });
    const file = join(node.dir, 'hostpath', hostDir, 'log');
    await waitFor('postStart', () => (existsSync(file) && readFileSync(file, 'utf8') === 'started\n' ? true : undefined));
    expect(existsSync(hostDir)).toBe(false);
    await api.call('DELETE', `/api/v1/namespaces/${ns}/pods/hooks`);
    await waitFor('hooks gone', async () => ((await getPod('hooks')) === undefined ? true : undefined));
    expect(readFileSync(file, 'utf8')).toBe('started\nstopping\n');
  });

  it('deleting a pod stops it, runs CNI DEL and removes its netns, cgroups and the Pod object', async () => {
    const netns = mock.metadata.annotations?.['lab.cilium-ts.io/netns'] ?? '';
    const ipFile = join(node.dir, 'var-lib-cni', 'networks', `labtest-${suffix}`, mockIp);
    expect(existsSync(ipFile)).toBe(true);
    await api.call('DELETE', `/api/v1/namespaces/${ns}/pods/mock`);
    await waitFor('mock gone from the API', async () => ((await getPod('mock')) === undefined ? true : undefined));
    expect(existsSync(netns)).toBe(false);
    expect(existsSync(cgroupDir(mock.metadata.uid))).toBe(false);
    expect(existsSync(cgroupDir(mock.metadata.uid, 'memory'))).toBe(false);
    expect(existsSync(join('/sys/fs/cgroup/unified/cilium-lab', labName, node.name, mock.metadata.uid))).toBe(false);
    expect(existsSync(ipFile)).toBe(false);
    const left = readdirSync('/run/netns').filter((n) => n === netns.split('/').pop());
    expect(left).toEqual([]);
  });
});
