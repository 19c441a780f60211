// StatusSource over the Kubernetes API (@kubernetes/client-node), configured as kubectl and cilium-cli are:
// --kubeconfig, else $KUBECONFIG, else ~/.kube/config (or the in-cluster service account); --context.
import { gunzipSync } from 'node:zlib';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1DaemonSet, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { CliError } from '../cli-error.js';
import type { StatusSource } from './status-source.js';

export interface KubeClientOptions {
  kubeconfig?: string;
  context?: string;
}

/** The API server could not be reached at all (no HTTP answer): connection refused, TLS, DNS, timeout. */
export class ApiUnreachableError extends Error {
  readonly code = 'K8S_API_UNREACHABLE';
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'ApiUnreachableError';
  }
}

const isNotFound = (e: unknown): boolean => typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 404;

/** An API error as one line: the server's message when it sent one. */
function apiError(e: unknown, server: string): Error {
  if (typeof e === 'object' && e !== null && 'code' in e && 'body' in e) {
    const { code, body } = e as { code: number; body: unknown };
    let msg = typeof body === 'string' ? body : '';
    try {
      const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: string };
      if (parsed?.message) msg = parsed.message;
    } catch {
      // not JSON
    }
    return new Error(`HTTP ${code}${msg ? `: ${msg}` : ''}`);
  }
  const err = e as { message?: string; code?: string; cause?: { code?: string; message?: string } };
  const why = err.cause?.code ?? err.code ?? err.cause?.message ?? err.message ?? String(e);
  return new ApiUnreachableError(`cannot reach the Kubernetes API server ${server}: ${why}`, 'check that the cluster is up and that KUBECONFIG / --kubeconfig / --context name it (the lab: eval $(bin/cilium-lab env --name NAME))');
}

export function loadKubeConfig(o: KubeClientOptions): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (o.kubeconfig) kc.loadFromFile(o.kubeconfig);
    else kc.loadFromDefault();
  } catch (e) {
    throw new CliError('KUBECONFIG_INVALID', `cannot load the Kubernetes configuration${o.kubeconfig ? ` ${o.kubeconfig}` : ''}: ${e instanceof Error ? e.message : String(e)}`, 'point KUBECONFIG (or --kubeconfig) at a valid kubeconfig, e.g. eval $(bin/cilium-lab env --name NAME)');
  }
  if (o.context) {
    if (!kc.getContexts().some((c) => c.name === o.context)) {
      throw new CliError('KUBECONFIG_CONTEXT', `context "${o.context}" does not exist in the kubeconfig`, `pick one of: ${kc.getContexts().map((c) => c.name).join(', ') || '(none)'}`);
    }
    kc.setCurrentContext(o.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new CliError('KUBECONFIG_EMPTY', 'no Kubernetes cluster configured (no current context)', 'set KUBECONFIG to the cluster\'s kubeconfig (the lab: eval $(bin/cilium-lab env --name NAME))');
  }
  return kc;
}

export class KubeStatusSource implements StatusSource {
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly server: string;

  constructor(kc: KubeConfig) {
    this.server = kc.getCurrentCluster()?.server ?? '(none)';
    this.apps = kc.makeApiClient(AppsV1Api);
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  private async call<T>(f: () => Promise<T>): Promise<T | undefined> {
    try {
      return await f();
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw apiError(e, this.server);
    }
  }

  getDaemonSet(namespace: string, name: string): Promise<V1DaemonSet | undefined> {
    return this.call(() => this.apps.readNamespacedDaemonSet({ name, namespace }));
  }

  getDeployment(namespace: string, name: string): Promise<V1Deployment | undefined> {
    return this.call(() => this.apps.readNamespacedDeployment({ name, namespace }));
  }

  async listPods(namespace: string | undefined, labelSelector?: string): Promise<V1Pod[]> {
    const sel = labelSelector === undefined ? {} : { labelSelector };
    const list = await this.call(() => (namespace === undefined ? this.core.listPodForAllNamespaces(sel) : this.core.listNamespacedPod({ namespace, ...sel })));
    return list?.items ?? [];
  }

  async countCiliumEndpoints(): Promise<number | undefined> {
    const list = (await this.call(() => this.custom.listClusterCustomObject({ group: 'cilium.io', version: 'v2', plural: 'ciliumendpoints' }))) as { items?: unknown[] } | undefined;
    return list?.items?.length;
  }

  async getConfigMapData(namespace: string, name: string): Promise<Record<string, string> | undefined> {
    const cm = await this.call(() => this.core.readNamespacedConfigMap({ namespace, name }));
    return cm ? (cm.data ?? {}) : undefined;
  }

  /** Helm 3 keeps each release revision in a Secret `sh.helm.release.v1.<name>.v<N>` (base64 of gzipped JSON). */
  async helmChartVersion(namespace: string, release: string): Promise<string | undefined> {
    const list = await this.call(() => this.core.listNamespacedSecret({ namespace, labelSelector: `owner=helm,name=${release},status=deployed` }));
    const newest = (list?.items ?? []).sort((a, b) => Number(b.metadata?.labels?.version ?? 0) - Number(a.metadata?.labels?.version ?? 0))[0];
    const data = newest?.data?.release;
    if (!data) return undefined;
    let raw = Buffer.from(Buffer.from(data, 'base64').toString('utf8'), 'base64');
    if (raw[0] === 0x1f && raw[1] === 0x8b) raw = gunzipSync(raw);
    const rel = JSON.parse(raw.toString('utf8')) as { chart?: { metadata?: { version?: string } } };
    return rel.chart?.metadata?.version;
  }
}
