// `cilium-lab exec`: run a command in a node's netns (`node1`), the control plane's (`cp`), or a pod's
// (`<namespace>/<pod>`: hostNetwork pods -> their node's netns; others -> the netns the lab kubelet
// recorded in the pod annotation lab.cilium-ts.io/netns). For a pod it also enters the mount and UTS
// namespaces of a running container of the pod (its /etc/resolv.conf, /etc/hosts, hostname), as
// `kubectl exec` would, when the kubelet's pod state names one; --net-only skips that.
import { spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeClient } from './kube-client.js';
import { LabError } from './lab-error.js';
import { labLayout, NETNS_ANNOTATION } from './layout.js';
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
}

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
    return { netns: `/run/netns/${node.netns}` };
  }
  const ns = target.slice(0, slash);
  const name = target.slice(slash + 1);
  const api = KubeClient.fromKubeconfig(lab.adminKubeconfig);
  const pod = (await api.get(`/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`)) as PodLike | undefined;
  if (pod === undefined) throw new LabError('LAB_NO_POD', `pod ${target} not found`, `kubectl get pods -n ${ns}`);
  const pid = containerPidOf(s, pod.spec?.nodeName, pod.metadata?.uid);
  const withPid = (netns: string): ExecTarget => (pid === undefined ? { netns } : { netns, containerPid: pid });
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
  const r = spawnSync('nsenter', [...ns, '--', ...cmd], { stdio: 'inherit' });
  if (r.error) throw new LabError('LAB_EXEC', `nsenter: ${r.error.message}`, 'is util-linux installed?');
  if (r.signal !== null) return 128 + (constants.signals[r.signal] ?? 0);
  return r.status ?? 1;
}
