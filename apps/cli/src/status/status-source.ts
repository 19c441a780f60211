// What `cilium status` reads from the cluster. The real implementation is KubeStatusSource (the API server,
// through @kubernetes/client-node); `undefined` means the object does not exist (HTTP 404).
import type { V1DaemonSet, V1Deployment, V1Pod } from '@kubernetes/client-node';

export interface StatusSource {
  getDaemonSet(namespace: string, name: string): Promise<V1DaemonSet | undefined>;
  getDeployment(namespace: string, name: string): Promise<V1Deployment | undefined>;
  /** Pods of one namespace (or of all when namespace is undefined), optionally by label selector. */
  listPods(namespace: string | undefined, labelSelector?: string): Promise<V1Pod[]>;
  /** Number of CiliumEndpoints in all namespaces; undefined when the CRD is not installed. */
  countCiliumEndpoints(): Promise<number | undefined>;
  /** Chart version of the deployed Helm release, undefined when there is none. */
  helmChartVersion(namespace: string, release: string): Promise<string | undefined>;
  /** A ConfigMap's data (cilium-config), undefined when it does not exist. */
  getConfigMapData?(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}
