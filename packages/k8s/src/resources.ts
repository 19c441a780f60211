// REST coordinates of the resources cilium-ts reads and writes.
export interface ResourceType {
  group: string; // '' for core
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export const Resources = {
  CiliumNode: { group: 'cilium.io', version: 'v2', plural: 'ciliumnodes', kind: 'CiliumNode', namespaced: false },
  CiliumEndpoint: { group: 'cilium.io', version: 'v2', plural: 'ciliumendpoints', kind: 'CiliumEndpoint', namespaced: true },
  CiliumIdentity: { group: 'cilium.io', version: 'v2', plural: 'ciliumidentities', kind: 'CiliumIdentity', namespaced: false },
  CiliumNetworkPolicy: { group: 'cilium.io', version: 'v2', plural: 'ciliumnetworkpolicies', kind: 'CiliumNetworkPolicy', namespaced: true },
  CiliumClusterwideNetworkPolicy: {
    group: 'cilium.io', version: 'v2', plural: 'ciliumclusterwidenetworkpolicies', kind: 'CiliumClusterwideNetworkPolicy', namespaced: false,
  },
  CiliumLoadBalancerIPPool: {
    group: 'cilium.io', version: 'v2', plural: 'ciliumloadbalancerippools', kind: 'CiliumLoadBalancerIPPool', namespaced: false,
  },
  Node: { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false },
  Pod: { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  Service: { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  Namespace: { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  ConfigMap: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true },
  Event: { group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
  EndpointSlice: { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', kind: 'EndpointSlice', namespaced: true },
  Lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true },
  DaemonSet: { group: 'apps', version: 'v1', plural: 'daemonsets', kind: 'DaemonSet', namespaced: true },
  Deployment: { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true },
  CustomResourceDefinition: {
    group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', kind: 'CustomResourceDefinition', namespaced: false,
  },
} as const satisfies Record<string, ResourceType>;

/** /api/v1/namespaces/ns/pods[/name] or /apis/group/version/... */
export function resourcePath(r: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const n = name ? `/${encodeURIComponent(name)}` : '';
  const sub = subresource && name ? `/${subresource}` : '';
  return `${base}${ns}/${r.plural}${n}${sub}`;
}
