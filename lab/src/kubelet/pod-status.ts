/**
 * Pod status as the kubelet computes it (pkg/kubelet/kubelet_pods.go getPhase, status/generate.go): phase
 * from the container states and the restart policy, the conditions, and the container statuses. Pure.
 */

export interface TerminatedState {
  exitCode: number;
  signal?: number;
  reason: string;
  message?: string;
  startedAt: string;
  finishedAt: string;
  containerID?: string;
}

export type ContainerState =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: string }
  | { kind: 'terminated'; t: TerminatedState };

export interface ContainerRecord {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  state: ContainerState;
  lastTermination?: TerminatedState;
  restartCount: number;
  ready: boolean;
  started: boolean;
}

export interface PodCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastProbeTime: null;
  lastTransitionTime: string;
}

export interface PodStatusInput {
  restartPolicy: string;
  init: ContainerRecord[];
  containers: ContainerRecord[];
  /** Sandbox (netns + CNI) ready. */
  sandboxReady: boolean;
  podIPs: string[];
  hostIP: string;
  startTime: string;
  /** The status in the API now (keeps PodScheduled, transition times). */
  previous: { conditions?: PodCondition[] | undefined; phase?: string | undefined } | undefined;
  now: string;
  /** Set when the pod cannot run at all (e.g. the network failed). */
  podMessage?: { reason: string; message: string } | undefined;
}

function initDone(c: ContainerRecord): boolean {
  return c.state.kind === 'terminated' && c.state.t.exitCode === 0;
}

export function podPhase(i: Pick<PodStatusInput, 'restartPolicy' | 'init' | 'containers'>): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  for (const c of i.init) {
    if (initDone(c)) continue;
    if (c.state.kind === 'terminated' && i.restartPolicy === 'Never') return 'Failed';
    if (c.state.kind === 'waiting' && c.lastTermination && c.lastTermination.exitCode !== 0 && i.restartPolicy === 'Never') return 'Failed';
    return 'Pending';
  }
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  let failed = 0;
  for (const c of i.containers) {
    if (c.state.kind === 'running') running++;
    else if (c.state.kind === 'terminated') {
      stopped++;
      if (c.state.t.exitCode === 0) succeeded++;
      else failed++;
    } else if (c.lastTermination) stopped++;
    else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped === i.containers.length && stopped > 0) {
    if (i.restartPolicy === 'Always') return 'Running';
    if (i.restartPolicy === 'OnFailure') return failed > 0 ? 'Running' : 'Succeeded';
    return failed > 0 ? 'Failed' : 'Succeeded';
  }
  return 'Pending';
}

function cond(prev: PodCondition[] | undefined, now: string, c: Omit<PodCondition, 'lastProbeTime' | 'lastTransitionTime'>): PodCondition {
  const old = prev?.find((p) => p.type === c.type);
  const t = old && old.status === c.status ? old.lastTransitionTime : now;
  const out: PodCondition = { type: c.type, status: c.status, lastProbeTime: null, lastTransitionTime: t };
  if (c.reason !== undefined) out.reason = c.reason;
  if (c.message !== undefined) out.message = c.message;
  return out;
}

function stateJson(s: ContainerState | undefined): Record<string, unknown> {
  if (!s) return {};
  if (s.kind === 'waiting') return { waiting: { reason: s.reason, ...(s.message !== undefined ? { message: s.message } : {}) } };
  if (s.kind === 'running') return { running: { startedAt: s.startedAt } };
  return { terminated: terminatedJson(s.t) };
}

function terminatedJson(t: TerminatedState): Record<string, unknown> {
  return {
    exitCode: t.exitCode,
    ...(t.signal !== undefined ? { signal: t.signal } : {}),
    reason: t.reason,
    ...(t.message !== undefined ? { message: t.message } : {}),
    startedAt: t.startedAt,
    finishedAt: t.finishedAt,
    ...(t.containerID !== undefined ? { containerID: t.containerID } : {}),
  };
}

export function containerStatusJson(c: ContainerRecord): Record<string, unknown> {
  return {
    name: c.name,
    image: c.image,
    imageID: c.imageID,
    ...(c.containerID !== undefined ? { containerID: c.containerID } : {}),
    ready: c.ready,
    started: c.started,
    restartCount: c.restartCount,
    state: stateJson(c.state),
    lastState: c.lastTermination ? { terminated: terminatedJson(c.lastTermination) } : {},
  };
}

/** The whole `status` to write to the pods/status subresource. */
export function buildPodStatus(i: PodStatusInput): Record<string, unknown> {
  const phase = podPhase(i);
  const prev = i.previous?.conditions;
  const conditions: PodCondition[] = [];
  conditions.push(cond(prev, i.now, { type: 'PodReadyToStartContainers', status: i.sandboxReady ? 'True' : 'False' }));
  const notInit = i.init.filter((c) => !initDone(c)).map((c) => c.name);
  conditions.push(
    cond(prev, i.now, notInit.length === 0 ? { type: 'Initialized', status: 'True' } : { type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized', message: `containers with incomplete status: [${notInit.join(' ')}]` }),
  );
  const completed = phase === 'Succeeded' || phase === 'Failed';
  const unready = i.containers.filter((c) => !c.ready).map((c) => c.name);
  const ready: Omit<PodCondition, 'lastProbeTime' | 'lastTransitionTime'> = completed
    ? { type: 'Ready', status: 'False', reason: 'PodCompleted' }
    : unready.length === 0
      ? { type: 'Ready', status: 'True' }
      : { type: 'Ready', status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: [${unready.join(' ')}]` };
  conditions.push(cond(prev, i.now, { ...ready, type: 'ContainersReady' }));
  conditions.push(cond(prev, i.now, ready));
  const scheduled = prev?.find((c) => c.type === 'PodScheduled');
  conditions.push(scheduled ?? cond(undefined, i.now, { type: 'PodScheduled', status: 'True' }));
  const status: Record<string, unknown> = {
    phase,
    conditions,
    hostIP: i.hostIP,
    hostIPs: [{ ip: i.hostIP }],
    startTime: i.startTime,
    containerStatuses: i.containers.map(containerStatusJson),
    qosClass: undefined,
  };
  delete status['qosClass'];
  if (i.init.length > 0) status['initContainerStatuses'] = i.init.map(containerStatusJson);
  if (i.podIPs.length > 0) {
    status['podIP'] = i.podIPs[0];
    status['podIPs'] = i.podIPs.map((ip) => ({ ip }));
  }
  if (i.podMessage) {
    status['reason'] = i.podMessage.reason;
    status['message'] = i.podMessage.message;
  }
  return status;
}

/** The status without timestamps, to decide whether anything changed. */
export function statusFingerprint(s: Record<string, unknown>): string {
  return JSON.stringify(s, (k, v: unknown) => (k === 'lastTransitionTime' || k === 'lastProbeTime' ? undefined : v));
}
