/**
 * The lab kubelet: one per lab node, run inside the node's network namespace (nsenter --net). It
 * registers the Node and keeps its status and Lease, watches the pods bound to the node (list + watch on
 * spec.nodeName) and runs each with a PodWorker.
 *
 * Restart semantics (as a real kubelet): SIGTERM/SIGINT stop the kubelet only. Pods keep running, their
 * networks stay (no CNI DEL), and a kubelet started again on the same stateDir adopts them from
 * <stateDir>/pods/<uid>/state.json: same netns, same IPs, same processes (their exit codes are then
 * unknown: such a container reports ContainerStatusUnknown if it exits). Pods deleted from the API while
 * no kubelet ran are torn down at start.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeApi, listWatch, type KubeObject } from './kube-client.js';
import { CGROUP2_ROOT } from './cgroups.js';
import { loadCniNetwork, type CniExec } from './cni.js';
import { launchScript, nodeMountView, type NodePaths } from './launch.js';
import { leaseObject, microTime, nodeObject, nodeStatus, type NodeCondition } from './node-status.js';
import { PodWorker, type NodeContext } from './pod-worker.js';

export interface KubeletOptions {
  /** Lab name (logs only). */
  lab: string;
  /** Node name. */
  node: string;
  kubeconfig: string;
  nodeIp: string;
  cniConfDir: string;
  cniBinDir: string;
  stateDir: string;
  /** The node's resolv.conf (nameservers = the cluster DNS). */
  resolvConf: string;
  /** Cgroup path (relative) under which pods get <pod-uid>/<container>. */
  cgroupRoot: string;
  /** Repository root (default: found from this file's location). */
  repoRoot?: string;
  /** Stop signal (tests); SIGTERM/SIGINT always stop it too. */
  signal?: AbortSignal;
}

/** The repository root: the nearest ancestor with bin/ and lab/ (works from src and from the bin bundle). */
export function findRepoRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let d = from;
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(d, 'lab')) && existsSync(join(d, 'package.json'))) return d;
    d = dirname(d);
  }
  return process.cwd();
}

function log(opts: KubeletOptions, level: string, msg: string): void {
  process.stderr.write(`${new Date().toISOString()} ${level.padEnd(5)} kubelet[${opts.lab}/${opts.node}] ${msg}\n`);
}

function findBusybox(): string | undefined {
  for (const p of ['/bin/busybox', '/usr/bin/busybox', '/sbin/busybox']) if (existsSync(p)) return p;
  return undefined;
}

function isMountPoint(path: string): boolean {
  try {
    return readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === path);
  } catch {
    return false;
  }
}

export async function runKubelet(opts: KubeletOptions): Promise<void> {
  const stop = new AbortController();
  const onSig = () => stop.abort();
  process.once('SIGTERM', onSig);
  process.once('SIGINT', onSig);
  opts.signal?.addEventListener('abort', onSig, { once: true });
  if (opts.signal?.aborted) stop.abort();

  const paths: NodePaths = { cniConfDir: opts.cniConfDir, cniBinDir: opts.cniBinDir, stateDir: opts.stateDir, cgroup2Dir: join(CGROUP2_ROOT, opts.cgroupRoot) };
  if (existsSync(join(CGROUP2_ROOT, 'cgroup.procs'))) mkdirSync(paths.cgroup2Dir!, { recursive: true });
  for (const d of [opts.stateDir, opts.cniConfDir, opts.cniBinDir, join(opts.stateDir, 'run-cilium'), join(opts.stateDir, 'bpffs'), join(opts.stateDir, 'var-lib-cni'), join(opts.stateDir, 'pods')]) {
    mkdirSync(d, { recursive: true });
  }
  // One BPF filesystem per node (the pods' /sys/fs/bpf).
  const bpffs = join(opts.stateDir, 'bpffs');
  if (!isMountPoint(bpffs)) {
    try {
      execFileSync('mount', ['-t', 'bpf', 'bpf', bpffs]);
    } catch (e) {
      log(opts, 'warn', `mount bpffs on ${bpffs}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  const api = new KubeApi(opts.kubeconfig);
  const apiHost = api.server.hostname.replace(/^\[|\]$/g, '');
  const apiPort = api.server.port || (api.server.protocol === 'https:' ? '443' : '80');
  const repoRoot = opts.repoRoot ?? findRepoRoot();
  const basePath = process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  // CNI plugins see the node's own dirs (conf, bin, /run/cilium, /sys/fs/bpf, /var/lib/cni) in a mount
  // namespace of their own, as containerd on a real node sees its host's.
  const cniWrapper = ['unshare', '--mount', '--propagation', 'slave', '--', '/bin/sh', '-c', launchScript({ cgroupDirs: [], mounts: nodeMountView(paths) }), 'lab-cni'];
  const workers = new Map<string, PodWorker>();
  /** Pods this kubelet has torn down: later events about them (before DELETED) are ignored. */
  const finished = new Set<string>();

  const ctx: NodeContext = {
    api,
    node: opts.node,
    nodeIp: opts.nodeIp,
    netnsPrefix: `${opts.lab}-${opts.node}`,
    paths,
    cgroupRoot: opts.cgroupRoot,
    resolvConf: opts.resolvConf,
    repoRoot,
    apiHost,
    apiPort,
    allocatable: { cpu: cpus().length, memory: totalmem() },
    busybox: findBusybox(),
    cniNetwork: () => loadCniNetwork(opts.cniConfDir),
    cniExec: (): CniExec => ({ wrapper: cniWrapper, binDir: opts.cniBinDir, basePath, timeoutMs: 120_000 }),
    log: (level, msg) => log(opts, level, msg),
    forget: (uid) => {
      workers.delete(uid);
      finished.add(uid);
    },
  };

  // ---- node registration, status, lease --------------------------------------------------------------
  let kubeletVersion = 'v0.0.0-lab';
  let nodeUid = '';
  let lastConditions: NodeCondition[] | undefined;
  let lastNetError: string | undefined | null = null;
  const netError = (): string | undefined => {
    const { network, error } = ctx.cniNetwork();
    return network ? undefined : (error ?? 'cni plugin not initialized');
  };
  const register = async (): Promise<void> => {
    const v = await api.request<{ gitVersion?: string }>('GET', '/version');
    if (v.status === 200 && v.body.gitVersion) kubeletVersion = v.body.gitVersion;
    const body = nodeObject({ name: opts.node, nodeIp: opts.nodeIp, kubeletVersion, networkError: undefined });
    const r = await api.request<KubeObject>('POST', '/api/v1/nodes', body);
    if (r.status === 409) {
      const p = await api.call<KubeObject>('PATCH', `/api/v1/nodes/${encodeURIComponent(opts.node)}`, { metadata: { labels: (body['metadata'] as { labels: unknown }).labels } }, 'application/merge-patch+json');
      nodeUid = p.body.metadata.uid;
      lastConditions = (p.body.status?.['conditions'] as NodeCondition[] | undefined) ?? undefined;
    } else if (r.status >= 300) {
      throw new Error(`register node ${opts.node}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    } else {
      nodeUid = r.body.metadata.uid;
    }
    log(opts, 'info', `registered node ${opts.node} (${opts.nodeIp}), kubelet version ${kubeletVersion}`);
  };
  // Status writes are serialised: an older computation never lands after a newer one.
  let statusChain: Promise<void> = Promise.resolve();
  const updateStatus = (force: boolean): Promise<void> => {
    const next = statusChain.then(() => writeStatus(force));
    statusChain = next.catch(() => undefined);
    return next;
  };
  const writeStatus = async (force: boolean): Promise<void> => {
    const err = netError();
    if (!force && err === lastNetError) return;
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const status = nodeStatus({ name: opts.node, nodeIp: opts.nodeIp, kubeletVersion, networkError: err }, lastConditions, now);
    const r = await api.request('PATCH', `/api/v1/nodes/${encodeURIComponent(opts.node)}/status`, { status }, 'application/strategic-merge-patch+json');
    if (r.status >= 300) {
      log(opts, 'warn', `node status: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      if (r.status === 404) await register();
      return;
    }
    if (err !== lastNetError) log(opts, 'info', err === undefined ? 'network ready: node Ready' : `node NotReady: ${err}`);
    const becameReady = lastNetError !== undefined && err === undefined;
    lastNetError = err;
    lastConditions = status['conditions'] as NodeCondition[];
    if (becameReady) for (const w of workers.values()) w.networkChanged();
  };
  const renewLease = async (): Promise<void> => {
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${encodeURIComponent(opts.node)}`;
    const r = await api.request('PATCH', path, { spec: { holderIdentity: opts.node, renewTime: microTime(), leaseDurationSeconds: 40 } }, 'application/merge-patch+json');
    if (r.status === 404) {
      const c = await api.request('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', leaseObject(opts.node, nodeUid, microTime()));
      if (c.status >= 300 && c.status !== 409) log(opts, 'warn', `lease create: ${c.status} ${JSON.stringify(c.body).slice(0, 200)}`);
    } else if (r.status >= 300) {
      log(opts, 'warn', `lease renew: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    }
  };

  for (let attempt = 0; !stop.signal.aborted; attempt++) {
    try {
      await register();
      break;
    } catch (e) {
      log(opts, 'warn', `register: ${e instanceof Error ? e.message : String(e)} (retrying)`);
      await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt)));
    }
  }
  const safe = (p: Promise<void>) => p.catch((e: unknown) => log(opts, 'warn', e instanceof Error ? e.message : String(e)));
  // Watch the CNI conf dir first, so a config written while the first status goes out is not missed.
  let confWatcher: FSWatcher | undefined;
  try {
    confWatcher = watch(opts.cniConfDir, () => void safe(updateStatus(false)));
  } catch (e) {
    log(opts, 'warn', `watch ${opts.cniConfDir}: ${String(e)} (checked every 10 s instead)`);
  }
  await safe(updateStatus(true));
  await safe(renewLease());
  await safe(updateStatus(false));
  let ticks = 0;
  const heartbeat = setInterval(() => {
    ticks++;
    void safe(renewLease());
    void safe(updateStatus(ticks % 6 === 0));
  }, 10_000);

  // ---- pods ----------------------------------------------------------------------------------------
  const savedUids = new Set<string>();
  try {
    for (const uid of readdirSync(join(opts.stateDir, 'pods'))) if (existsSync(join(opts.stateDir, 'pods', uid, 'pod.json'))) savedUids.add(uid);
  } catch {
    // none
  }
  const ensure = (pod: KubeObject): void => {
    if (stop.signal.aborted || finished.has(pod.metadata.uid)) return;
    const w = workers.get(pod.metadata.uid);
    if (w) w.update(pod);
    else {
      const nw = new PodWorker(ctx, pod);
      workers.set(pod.metadata.uid, nw);
      nw.kick();
    }
  };
  const orphan = (pod: KubeObject): void => {
    const w = workers.get(pod.metadata.uid) ?? new PodWorker(ctx, pod);
    workers.set(pod.metadata.uid, w);
    void w.killAll().catch((e: unknown) => log(opts, 'warn', `cleanup of ${pod.metadata.name}: ${String(e)}`));
  };
  let firstList = true;
  const watching = listWatch<KubeObject>(
    api,
    '/api/v1/pods',
    { fieldSelector: `spec.nodeName=${opts.node}` },
    {
      onList: (items) => {
        const seen = new Set(items.map((p) => p.metadata.uid));
        for (const uid of finished) if (!seen.has(uid)) finished.delete(uid);
        for (const [uid, w] of workers) if (!seen.has(uid)) orphan(w.pod);
        if (firstList) {
          firstList = false;
          for (const uid of savedUids) {
            if (seen.has(uid) || workers.has(uid)) continue;
            try {
              orphan(JSON.parse(readFileSync(join(opts.stateDir, 'pods', uid, 'pod.json'), 'utf8')) as KubeObject);
            } catch (e) {
              log(opts, 'warn', `saved pod ${uid}: ${String(e)}`);
            }
          }
        }
        for (const p of items) ensure(p);
      },
      onEvent: (type, pod) => {
        if (type === 'DELETED') {
          finished.delete(pod.metadata.uid);
          const w = workers.get(pod.metadata.uid);
          if (w) orphan(pod);
        } else ensure(pod);
      },
      onError: (err) => log(opts, 'warn', `pod watch: ${err instanceof Error ? err.message : JSON.stringify(err)}`),
    },
    stop.signal,
  );

  await new Promise<void>((resolve) => {
    if (stop.signal.aborted) resolve();
    else stop.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  log(opts, 'info', 'stopping (pods keep running; a new kubelet adopts them)');
  clearInterval(heartbeat);
  confWatcher?.close();
  for (const w of workers.values()) w.detach();
  await watching.catch(() => undefined);
  process.removeListener('SIGTERM', onSig);
  process.removeListener('SIGINT', onSig);
}
