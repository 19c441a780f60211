// `cilium-lab exec`: run a command in a node's netns (`node1`), the control plane's (`cp`), or a pod's
// (`<namespace>/<pod>`: hostNetwork pods -> their node's netns; others -> the netns the lab kubelet
// recorded in the pod annotation lab.cilium-ts.io/netns).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { KubeClient } from './kube-client.js';
import { LabError } from './lab-error.js';
import { labLayout, NETNS_ANNOTATION } from './layout.js';
import type { LabState } from './state.js';

interface PodLike {
  metadata?: { annotations?: Record<string, string> };
  spec?: { nodeName?: string; hostNetwork?: boolean };
  status?: { phase?: string };
}

export async function resolveTargetNetns(s: LabState, target: string): Promise<string> {
  const lab = labLayout(s.name, s.index);
  if (target === 'cp') return `/run/netns/${lab.cpNetns}`;
  const slash = target.indexOf('/');
  if (slash < 0) {
    const node = s.nodes.find((n) => n.name === target);
    if (node === undefined) {
      throw new LabError('LAB_NO_TARGET', `lab ${s.name} has no node ${JSON.stringify(target)}`, `nodes: ${s.nodes.map((n) => n.name).join(', ') || '(none)'}, cp, or <namespace>/<pod>`);
    }
    return `/run/netns/${node.netns}`;
  }
  const ns = target.slice(0, slash);
  const name = target.slice(slash + 1);
  const api = KubeClient.fromKubeconfig(lab.adminKubeconfig);
  const pod = (await api.get(`/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`)) as PodLike | undefined;
  if (pod === undefined) throw new LabError('LAB_NO_POD', `pod ${target} not found`, `kubectl get pods -n ${ns}`);
  if (pod.spec?.hostNetwork === true) {
    const node = s.nodes.find((n) => n.name === pod.spec?.nodeName);
    if (node === undefined) throw new LabError('LAB_POD_NOT_RUNNING', `pod ${target} is not on a lab node (nodeName ${pod.spec?.nodeName ?? 'unset'})`, 'wait until it is scheduled');
    return `/run/netns/${node.netns}`;
  }
  const path = pod.metadata?.annotations?.[NETNS_ANNOTATION];
  if (path === undefined || path === '') {
    throw new LabError('LAB_POD_NO_NETNS', `pod ${target} has no ${NETNS_ANNOTATION} annotation (phase ${pod.status?.phase ?? 'unknown'})`, 'the lab kubelet sets it once the pod sandbox exists; wait until the pod runs');
  }
  if (!existsSync(path)) throw new LabError('LAB_POD_NO_NETNS', `pod ${target}: netns ${path} does not exist`, 'the pod is gone or being restarted');
  return path;
}

/** Runs cmd in the target's netns with our stdio; returns its exit code. */
export async function labExec(s: LabState, target: string, cmd: string[]): Promise<number> {
  if (cmd.length === 0) throw new LabError('LAB_NO_CMD', 'no command given', 'cilium-lab exec --name L node1 -- ip addr');
  const netns = await resolveTargetNetns(s, target);
  const r = spawnSync('nsenter', [`--net=${netns}`, '--', ...cmd], { stdio: 'inherit' });
  if (r.error) throw new LabError('LAB_EXEC', `nsenter: ${r.error.message}`, 'is util-linux installed?');
  if (r.signal !== null) return 128 + 15;
  return r.status ?? 1;
}
