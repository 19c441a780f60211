// `cilium-lab exec`: run a command in a node's netns (`node1`), the control plane's (`cp`), or a pod's
// (`<namespace>/<pod>`: hostNetwork pods -> their node's netns; others -> the netns the lab kubelet
// recorded in the pod annotation lab.cilium-ts.io/netns). For a pod it also enters the mount and UTS
// namespaces of a running container of the pod (its /etc/resolv.conf, /etc/hosts, hostname), as
// `kubectl exec` would, when the kubelet's pod state names one; --net-only skips that.
// cgroup v2: the command also runs in a cgroup2 directory of the node's subtree, so the socket-LB programs
// the node's agent attached there (its cgroup-root, see lab/README.md) apply to it: `<node>` -> the node's
// `<subtree>/host` (the node's own processes), `<ns>/<pod>` -> the cgroup2 dir of the pod's running
// container (else the pod's dir), `cp` -> none (the control plane is not a node).
import { spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeClient } from './kube-client.js';
import { LabError } from './lab-error.js';
import { CGROUP2_ROOT } from './kubelet/cgroups.js';
import { labLayout, NETNS_ANNOTATION, NODE_HOST_CGROUP, nodeCgroupRoot } from './layout.js';
import { procStartTime } from './processes.js';
import type { LabState } from './state.js';

interface PodLike {
  metadata?: { uid?: string; annotations?: Record<string, string> };
  spec?: { nodeName?: string; hostNetwork?: boolean };
  status?: { phase?: string };
}

export interface ExecTarget {
  /** netns file to enter. */
  netns: string;
  /** A live container process of the pod whose mount and UTS namespaces to enter as well. */
  containerPid?: number;
  /** cgroup2 directory to run the command in (created if missing); undefined: the caller's cgroup. */
  cgroup2Dir?: string;
}

/** The cgroup2 dir of a process ("0::/path" in /proc/<pid>/cgroup), if it is inside `under`. */
function cgroup2DirOf(pid: number, under: string): string | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
    const dir = line === undefined ? undefined : join(CGROUP2_ROOT, line.slice(3));
    return dir !== undefined && (dir === under || dir.startsWith(`${under}/`)) ? dir : undefined;
  } catch {
    return undefined;
  }
}

const cgroup2Available = (): boolean => existsSync(join(CGROUP2_ROOT, 'cgroup.procs'));

/** A live container pid of the pod, from the lab kubelet's <node dir>/pods/<uid>/state.json. */
function containerPidOf(s: LabState, nodeName: string | undefined, uid: string | undefined): number | undefined {
  const node = s.nodes.find((n) => n.name === nodeName);
  if (node === undefined || uid === undefined) return undefined;
  let saved: { containers?: Record<string, { pid?: number; pidStart?: string }> };
  try {
    saved = JSON.parse(readFileSync(join(node.dir, 'pods', uid, 'state.json'), 'utf8')) as typeof saved;
  } catch {
    return undefined;
  }
  for (const c of Object.values(saved.containers ?? {})) {
    if (c.pid !== undefined && c.pidStart !== undefined && procStartTime(c.pid) === c.pidStart) return c.pid;
  }
  return undefined;
}

export async function resolveTarget(s: LabState, target: string): Promise<ExecTarget> {
  const lab = labLayout(s.name, s.index);
  if (target === 'cp') return { netns: `/run/netns/${lab.cpNetns}` };
  const slash = target.indexOf('/');
  if (slash < 0) {
    const node = s.nodes.find((n) => n.name === target);
    if (node === undefined) {
      throw new LabError('LAB_NO_TARGET', `lab ${s.name} has no node ${JSON.stringify(target)}`, `nodes: ${s.nodes.map((n) => n.name).join(', ') || '(none)'}, cp, or <namespace>/<pod>`);
    }
    return {
      netns: `/run/netns/${node.netns}`,
      ...(cgroup2Available() ? { cgroup2Dir: join(CGROUP2_ROOT, nodeCgroupRoot(s.name, node.name), NODE_HOST_CGROUP) } : {}),
    };
  }
  const ns = target.slice(0, slash);
  const name = target.slice(slash + 1);
  const api = KubeClient.fromKubeconfig(lab.adminKubeconfig);
  const pod = (await api.get(`/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`)) as PodLike | undefined;
  if (pod === undefined) throw new LabError('LAB_NO_POD', `pod ${target} not found`, `kubectl get pods -n ${ns}`);
  const pid = containerPidOf(s, pod.spec?.nodeName, pod.metadata?.uid);
  const nodeName = pod.spec?.nodeName;
  const subtree = nodeName !== undefined && s.nodes.some((n) => n.name === nodeName) ? join(CGROUP2_ROOT, nodeCgroupRoot(s.name, nodeName)) : undefined;
  let cg: string | undefined;
  if (subtree !== undefined && cgroup2Available()) {
    cg = pid !== undefined ? cgroup2DirOf(pid, subtree) : undefined;
    const podDir = pod.metadata?.uid ? join(subtree, pod.metadata.uid) : undefined;
    if (cg === undefined && podDir !== undefined && existsSync(podDir)) cg = podDir;
  }
  const withPid = (netns: string): ExecTarget => ({ netns, ...(pid !== undefined ? { containerPid: pid } : {}), ...(cg !== undefined ? { cgroup2Dir: cg } : {}) });
  if (pod.spec?.hostNetwork === true) {
    const node = s.nodes.find((n) => n.name === pod.spec?.nodeName);
    if (node === undefined) throw new LabError('LAB_POD_NOT_RUNNING', `pod ${target} is not on a lab node (nodeName ${pod.spec?.nodeName ?? 'unset'})`, 'wait until it is scheduled');
    return withPid(`/run/netns/${node.netns}`);
  }
  const path = pod.metadata?.annotations?.[NETNS_ANNOTATION];
  if (path === undefined || path === '') {
    throw new LabError('LAB_POD_NO_NETNS', `pod ${target} has no ${NETNS_ANNOTATION} annotation (phase ${pod.status?.phase ?? 'unknown'})`, 'the lab kubelet sets it once the pod sandbox exists; wait until the pod runs');
  }
  if (!existsSync(path)) throw new LabError('LAB_POD_NO_NETNS', `pod ${target}: netns ${path} does not exist`, 'the pod is gone or being restarted');
  return withPid(path);
}

/** Runs cmd in the target's namespaces with our stdio; returns its exit code. */
export async function labExec(s: LabState, target: string, cmd: string[], o: { netOnly?: boolean } = {}): Promise<number> {
  if (cmd.length === 0) throw new LabError('LAB_NO_CMD', 'no command given', 'cilium-lab exec --name L node1 -- ip addr');
  const t = await resolveTarget(s, target);
  const ns = [`--net=${t.netns}`];
  if (t.containerPid !== undefined && o.netOnly !== true) ns.push(`--mount=/proc/${t.containerPid}/ns/mnt`, `--uts=/proc/${t.containerPid}/ns/uts`);
  let argv = ['nsenter', ...ns, '--', ...cmd];
  if (t.cgroup2Dir !== undefined) {
    mkdirSync(t.cgroup2Dir, { recursive: true });
    // The shell moves itself into the cgroup, then becomes nsenter (the command inherits the cgroup).
    argv = ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', t.cgroup2Dir, ...argv];
  }
  const [file = 'nsenter', ...args] = argv;
  const r = spawnSync(file, args, { stdio: 'inherit' });
  if (r.error) throw new LabError('LAB_EXEC', `nsenter: ${r.error.message}`, 'is util-linux installed?');
  if (r.signal !== null) return 128 + (constants.signals[r.signal] ?? 0);
  return r.status ?? 1;
}
