// What `cilium status` collects about an install: the same fields as cilium-cli's status.Status, in insertion
// order (the Go CLI walks maps in random order; we keep the order components are collected in).

/** Component names as cilium-cli's defaults package spells them. */
export const AGENT = 'cilium';
export const ENVOY = 'cilium-envoy';
export const OPERATOR = 'cilium-operator';
export const RELAY = 'hubble-relay';
export const HUBBLE_UI = 'hubble-ui';
export const CLUSTERMESH = 'clustermesh-apiserver';
export const AGENT_CONTAINER = 'cilium-agent';

export interface PodStateCount {
  type: 'DaemonSet' | 'Deployment';
  desired: number;
  ready: number;
  available: number;
  unavailable: number;
}

export interface ErrorCount {
  errors: string[];
  warnings: string[];
  disabled: boolean;
}

export class ClusterStatus {
  /** workload name -> replica counts */
  readonly podState = new Map<string, PodStateCount>();
  /** component -> pod phase -> count */
  readonly phaseCount = new Map<string, Map<string, number>>();
  /** component -> image -> count of containers */
  readonly imageCount = new Map<string, Map<string, number>>();
  podsCount = { all: 0, byCilium: 0 };
  /** component -> pod (or workload) name -> errors and warnings */
  readonly errors = new Map<string, Map<string, ErrorCount>>();
  readonly collectionErrors: string[] = [];
  helmChartVersion = '';
  /** The KubeProxyReplacement summary from cilium-config ('' when there is no cilium-config). */
  kubeProxyReplacement = '';
  /** Set when the API server could not be reached at all (nothing else was collected). */
  unreachable: { message: string; hint: string } | undefined;

  private entry(component: string, pod: string): ErrorCount {
    let m = this.errors.get(component);
    if (!m) this.errors.set(component, (m = new Map()));
    let e = m.get(pod);
    if (!e) m.set(pod, (e = { errors: [], warnings: [], disabled: false }));
    return e;
  }

  addError(component: string, pod: string, msg: string): void {
    this.entry(component, pod).errors.push(msg);
  }

  addWarning(component: string, pod: string, msg: string): void {
    this.entry(component, pod).warnings.push(msg);
  }

  setDisabled(component: string, pod: string, disabled: boolean): void {
    this.entry(component, pod).disabled = disabled;
  }

  collectionError(msg: string): void {
    this.collectionErrors.push(msg);
  }

  totalErrors(): number {
    let n = 0;
    for (const pods of this.errors.values()) for (const e of pods.values()) n += e.errors.length;
    return n;
  }

  totalWarnings(): number {
    let n = 0;
    for (const pods of this.errors.values()) for (const e of pods.values()) n += e.warnings.length;
    return n;
  }

  /** "component pod message" for every error (or warning), in order. */
  problems(kind: 'errors' | 'warnings'): Array<{ component: string; pod: string; message: string }> {
    const out: Array<{ component: string; pod: string; message: string }> = [];
    for (const [component, pods] of this.errors) for (const [pod, e] of pods) for (const message of e[kind]) out.push({ component, pod, message });
    return out;
  }

  /** Ready: no errors, and no warnings unless they are ignored (cilium-cli's statusIsReady). */
  isReady(ignoreWarnings: boolean): boolean {
    if (this.totalErrors() > 0) return false;
    return ignoreWarnings || this.totalWarnings() === 0;
  }

  toJSON(): unknown {
    const obj = <V>(m: Map<string, V>): Record<string, V> => Object.fromEntries(m);
    return {
      image_count: Object.fromEntries([...this.imageCount].map(([k, v]) => [k, obj(v)])),
      phase_count: Object.fromEntries([...this.phaseCount].map(([k, v]) => [k, obj(v)])),
      pod_state: Object.fromEntries([...this.podState].map(([k, v]) => [k, { Type: v.type, Desired: v.desired, Ready: v.ready, Available: v.available, Unavailable: v.unavailable }])),
      pods_count: { all: this.podsCount.all, by_cilium: this.podsCount.byCilium },
      errors: Object.fromEntries([...this.errors].map(([k, v]) => [k, Object.fromEntries([...v].map(([p, e]) => [p, { Errors: e.errors, Warnings: e.warnings, Disabled: e.disabled }]))])),
      collection_errors: this.collectionErrors,
      helm_chart_version: this.helmChartVersion,
      ...(this.kubeProxyReplacement ? { kube_proxy_replacement: this.kubeProxyReplacement } : {}),
    };
  }
}
