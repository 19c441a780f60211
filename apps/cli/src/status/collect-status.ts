// Collects the status of a Cilium install the way cilium-cli's K8sStatusCollector does: the agent DaemonSet,
// the Envoy DaemonSet, the operator, Relay, UI and ClusterMesh Deployments (absent = disabled), their pods'
// phases, container states and images, how many pods Cilium manages (CiliumEndpoints), the Helm chart version.
// Messages are cilium-cli's, so scripts that grep them keep working.
import type { V1DaemonSet, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { AGENT, AGENT_CONTAINER, CLUSTERMESH, ClusterStatus, ENVOY, HUBBLE_UI, OPERATOR, RELAY } from './cluster-status.js';
import { kprSummary } from './kpr-summary.js';
import type { StatusSource } from './status-source.js';

export interface CollectOptions {
  namespace: string;
  helmReleaseName?: string;
}

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

async function daemonSetStatus(src: StatusSource, s: ClusterStatus, ns: string, name: string): Promise<V1DaemonSet | undefined> {
  const ds = await src.getDaemonSet(ns, name);
  if (!ds) return undefined;
  const st = ds.status;
  const desired = st?.desiredNumberScheduled ?? 0;
  const ready = st?.numberReady ?? 0;
  s.podState.set(name, { type: 'DaemonSet', desired, ready, available: st?.numberAvailable ?? 0, unavailable: st?.numberUnavailable ?? 0 });
  const notReady = desired - ready;
  if (notReady > 0) s.addError(name, name, `${notReady} pods of DaemonSet ${name} are not ready`);
  const unavailable = (st?.numberUnavailable ?? 0) - notReady;
  if (unavailable > 0) s.addWarning(name, name, `${unavailable} pods of DaemonSet ${name} are not available`);
  if ((ds.metadata?.generation ?? 0) !== (st?.observedGeneration ?? 0)) s.addError(name, name, `daemonset ${name} is updated but rollout has not started`);
  const updated = st?.updatedNumberScheduled ?? 0;
  if (updated < desired) s.addError(name, name, `daemonset ${name} is rolling out - ${updated} out of ${desired} pods updated`);
  return ds;
}

async function deploymentStatus(src: StatusSource, s: ClusterStatus, ns: string, name: string): Promise<V1Deployment | undefined> {
  const d = await src.getDeployment(ns, name);
  if (!d) return undefined;
  const st = d.status;
  const desired = st?.replicas ?? 0;
  const ready = st?.readyReplicas ?? 0;
  s.podState.set(name, { type: 'Deployment', desired, ready, available: st?.availableReplicas ?? 0, unavailable: st?.unavailableReplicas ?? 0 });
  const notReady = desired - ready;
  if (notReady > 0) s.addError(name, name, `${notReady} pods of Deployment ${name} are not ready`);
  const unavailable = (st?.unavailableReplicas ?? 0) - notReady;
  if (unavailable > 0) s.addWarning(name, name, `${unavailable} pods of Deployment ${name} are not available`);
  if ((d.metadata?.generation ?? 0) !== (st?.observedGeneration ?? 0)) s.addError(name, name, `deployment ${name} is updated but rollout has not started`);
  const updated = st?.updatedReplicas ?? 0;
  if (updated < desired) s.addError(name, name, `deployment ${name} is rolling out - ${updated} out of ${desired} pods updated`);
  return d;
}

async function podStatus(src: StatusSource, s: ClusterStatus, ns: string, name: string, selector: string, perPod?: (pod: V1Pod) => void): Promise<void> {
  const pods = await src.listPods(ns, selector);
  const phases = new Map<string, number>();
  const images = new Map<string, number>();
  for (const pod of pods) {
    const phase = pod.status?.phase ?? 'Unknown';
    phases.set(phase, (phases.get(phase) ?? 0) + 1);
    const podName = pod.metadata?.name ?? '';
    if (phase === 'Pending') s.addWarning(name, podName, 'pod is pending');
    if (phase === 'Failed') s.addError(name, podName, `pod has failed: ${pod.status?.reason ?? ''} - ${pod.status?.message ?? ''}`);
    for (const c of pod.spec?.containers ?? []) images.set(c.image ?? '', (images.get(c.image ?? '') ?? 0) + 1);
    perPod?.(pod);
  }
  s.phaseCount.set(name, phases);
  s.imageCount.set(name, images);
}

/** An agent pod that runs but whose cilium-agent container does not: say why (cilium-cli's wording). */
function agentContainerCheck(s: ClusterStatus, ns: string, pod: V1Pod): void {
  if (pod.status?.phase !== 'Running') return;
  const cs = pod.status.containerStatuses?.find((c) => c.name === AGENT_CONTAINER);
  if (cs?.state?.running) return;
  const podName = pod.metadata?.name ?? '';
  let desc = 'is not running';
  let lastLog = `try 'kubectl -n ${ns} logs -c ${AGENT_CONTAINER} ${podName}'`;
  if (cs) {
    if (cs.state?.waiting?.reason === 'CrashLoopBackOff') desc = 'is in CrashLoopBackOff';
    const t = cs.lastState?.terminated;
    if (t) {
      desc = `${desc}, exited with code ${t.exitCode}`;
      const msg = (t.message ?? '').trim();
      if (msg !== '') lastLog = msg.split('\n').pop() ?? lastLog;
    }
  }
  s.addError(AGENT, podName, `container ${AGENT_CONTAINER} ${desc}: ${lastLog}`);
}

export async function collectStatus(src: StatusSource, opts: CollectOptions): Promise<ClusterStatus> {
  const s = new ClusterStatus();
  const ns = opts.namespace;
  const guard = async (component: string, f: () => Promise<void>): Promise<void> => {
    try {
      await f();
    } catch (e) {
      s.addError(component, component, errText(e));
      s.collectionError(`${component}: ${errText(e)}`);
    }
  };

  try {
    if (!(await daemonSetStatus(src, s, ns, AGENT))) s.addError(AGENT, AGENT, `daemonsets.apps "${AGENT}" not found`);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'K8S_API_UNREACHABLE') {
      // One clear line instead of the same connection error for every component.
      s.unreachable = { message: errText(e), hint: String((e as { hint?: unknown }).hint ?? '') };
      s.addError(AGENT, AGENT, errText(e));
      s.collectionError(`${AGENT}: ${errText(e)}`);
      return s;
    }
    s.addError(AGENT, AGENT, errText(e));
    s.collectionError(`${AGENT}: ${errText(e)}`);
  }
  await guard(ENVOY, async () => {
    if (!(await daemonSetStatus(src, s, ns, ENVOY))) s.setDisabled(ENVOY, ENVOY, true);
  });
  await guard(OPERATOR, async () => {
    s.setDisabled(OPERATOR, OPERATOR, !(await deploymentStatus(src, s, ns, OPERATOR)));
  });
  for (const [name, selector] of [
    [RELAY, 'k8s-app=hubble-relay'],
    [HUBBLE_UI, 'k8s-app=hubble-ui'],
    [CLUSTERMESH, 'k8s-app=clustermesh-apiserver'],
  ] as const) {
    await guard(name, async () => {
      s.setDisabled(name, name, !(await deploymentStatus(src, s, ns, name)));
    });
  }

  // Pods, in the order of the workloads above.
  await guard(AGENT, () => podStatus(src, s, ns, AGENT, 'k8s-app=cilium', (pod) => agentContainerCheck(s, ns, pod)));
  if (s.podState.has(ENVOY)) await guard(ENVOY, () => podStatus(src, s, ns, ENVOY, 'name=cilium-envoy'));
  await guard(OPERATOR, () => podStatus(src, s, ns, OPERATOR, 'name=cilium-operator'));
  if (s.podState.has(RELAY)) await guard(RELAY, () => podStatus(src, s, ns, RELAY, 'k8s-app=hubble-relay'));
  if (s.podState.has(HUBBLE_UI)) await guard(HUBBLE_UI, () => podStatus(src, s, ns, HUBBLE_UI, 'k8s-app=hubble-ui'));
  if (s.podState.has(CLUSTERMESH)) await guard(CLUSTERMESH, () => podStatus(src, s, ns, CLUSTERMESH, 'k8s-app=clustermesh-apiserver'));

  try {
    const all = await src.listPods(undefined);
    s.podsCount.all = all.filter((p) => !p.spec?.hostNetwork && (p.status?.phase === 'Running' || p.status?.phase === 'Pending')).length;
    s.podsCount.byCilium = (await src.countCiliumEndpoints()) ?? 0;
  } catch (e) {
    s.collectionError(`pods: ${errText(e)}`);
  }
  try {
    s.helmChartVersion = (await src.helmChartVersion(ns, opts.helmReleaseName ?? 'cilium')) ?? '';
  } catch (e) {
    s.collectionError(`helm release: ${errText(e)}`);
  }
  if (src.getConfigMapData) {
    try {
      s.kubeProxyReplacement = kprSummary(await src.getConfigMapData(ns, 'cilium-config'));
    } catch (e) {
      s.collectionError(`cilium-config: ${errText(e)}`);
    }
  }
  return s;
}
