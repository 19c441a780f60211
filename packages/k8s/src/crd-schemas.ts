// The cilium.io/v2 CustomResourceDefinitions, built as data. The YAML files in packages/k8s/crds/ are this
// module's output (crds.test.ts fails when they drift; `UPDATE_CRDS=1 npx vitest run packages/k8s` rewrites
// them). Shapes follow Cilium's own generated CRDs (pkg/k8s/apis/cilium.io/client/crds/v2/*.yaml): the same
// field names, `spec`/`specs`, the oneOf endpointSelector|nodeSelector, the entity enum, the port pattern
// (anchored here, so "70000" is rejected), and x-kubernetes-preserve-unknown-fields only where Cilium has it
// (status blocks and cloud-specific CiliumNode sections).

/** An OpenAPI v3 schema node as apiextensions.k8s.io/v1 accepts it (the subset used here). */
export interface JSONSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'boolean' | 'number';
  description?: string;
  properties?: Record<string, JSONSchemaProps>;
  additionalProperties?: JSONSchemaProps | boolean;
  items?: JSONSchemaProps;
  required?: string[];
  enum?: (string | number)[];
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  oneOf?: JSONSchemaProps[];
  anyOf?: JSONSchemaProps[];
  nullable?: boolean;
  /** Applied by the apiserver when the field is unset (structural schemas). */
  default?: unknown;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames?: string[]; categories?: string[] };
    scope: 'Namespaced' | 'Cluster';
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: JSONSchemaProps };
      subresources?: { status?: Record<string, never> };
      additionalPrinterColumns?: { name: string; type: string; jsonPath: string; description?: string; priority?: number }[];
    }[];
  };
}

const str = (description?: string): JSONSchemaProps => (description ? { type: 'string', description } : { type: 'string' });
const strList = (description?: string): JSONSchemaProps => ({ type: 'array', items: { type: 'string' }, ...(description ? { description } : {}) });
const arr = (items: JSONSchemaProps, description?: string): JSONSchemaProps => ({ type: 'array', items, ...(description ? { description } : {}) });
const obj = (properties: Record<string, JSONSchemaProps>, extra: Partial<JSONSchemaProps> = {}): JSONSchemaProps => ({ type: 'object', properties, ...extra });
const preserve = (description: string): JSONSchemaProps => ({ type: 'object', description, 'x-kubernetes-preserve-unknown-fields': true });

/** Cilium's label value pattern (k8s label value rules). */
const LABEL_VALUE_PATTERN = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';

/** 0-65535 or an IANA service name (named port); anchored as a whole. */
export const PORT_PATTERN =
  '^((6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})|([a-zA-Z0-9]-?)*[a-zA-Z](-?[a-zA-Z0-9])*)$';

const IPV4_CIDR = '(([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\\.){3}([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\\/([0-9]|[1-2][0-9]|3[0-2])';
const IPV6_CIDR = '[0-9a-fA-F:.]*:[0-9a-fA-F:.]*\\/([0-9]|[1-9][0-9]|1[0-1][0-9]|12[0-8])';
/** An IPv4 or IPv6 CIDR (prefix length required), as Cilium's CIDR type. */
export const CIDR_PATTERN = `^(${IPV4_CIDR})$|^(${IPV6_CIDR})$`;

/** Entities of Cilium's policy language (pkg/policy/api/entity.go, v1.10 set plus the newer ones). */
export const ENTITIES = [
  'all', 'world', 'cluster', 'host', 'init', 'ingress', 'unmanaged', 'remote-node', 'health', 'none',
  'kube-apiserver', 'world-ipv4', 'world-ipv6', 'cluster-mesh',
] as const;

/** L4 protocols of a PortProtocol. */
export const PROTOCOLS = ['TCP', 'UDP', 'SCTP', 'ANY'] as const;

/** In, NotIn, Exists, DoesNotExist in any letter case (upstream examples write "in"; the agent accepts it). */
const OPERATOR_PATTERN = `^(${['In', 'NotIn', 'Exists', 'DoesNotExist'].map((w) => [...w].map((c) => `[${c.toUpperCase()}${c.toLowerCase()}]`).join('')).join('|')})$`;

function labelSelector(description: string): JSONSchemaProps {
  return obj(
    {
      matchLabels: {
        type: 'object',
        description: 'map of {key,value} pairs; a key may carry a source prefix (k8s:, any:, reserved:)',
        additionalProperties: { type: 'string', maxLength: 63, pattern: LABEL_VALUE_PATTERN },
      },
      matchExpressions: arr(
        obj(
          {
            key: str('label key the selector applies to'),
            operator: {
              type: 'string',
              description: 'key-values relationship: In, NotIn, Exists or DoesNotExist (any case, as the agent parses it)',
              pattern: OPERATOR_PATTERN,
            },
            values: strList('values for In/NotIn; empty for Exists/DoesNotExist'),
          },
          { required: ['key', 'operator'] },
        ),
        'list of label selector requirements (ANDed)',
      ),
    },
    { description },
  );
}

const endpointSelector = labelSelector('selects endpoints by their labels; {} selects all');

const secret = obj({ namespace: str(), name: str() }, { required: ['name'], description: 'a Kubernetes Secret' });

const portProtocol = obj(
  {
    port: { type: 'string', description: 'L4 port number 0-65535 (0: all ports) or a named port', maxLength: 15, pattern: PORT_PATTERN },
    endPort: { type: 'integer', format: 'int32', minimum: 0, maximum: 65535, description: 'end of a port range starting at port' },
    protocol: { type: 'string', description: 'L4 protocol; ANY matches all', enum: [...PROTOCOLS] },
  },
  { required: ['port'] },
);

const portsList: JSONSchemaProps = { ...arr(portProtocol, 'L4 ports'), maxItems: 40 };

const fqdnSelector = obj(
  {
    matchName: { type: 'string', maxLength: 255, pattern: '^([-a-zA-Z0-9_]+[.]?)+$', description: 'exact DNS name' },
    matchPattern: { type: 'string', maxLength: 255, pattern: '^([-a-zA-Z0-9_*]+[.]?)+$', description: 'DNS name with * wildcards' },
  },
);

const httpRule = obj({
  method: str('extended POSIX regex matched against the request method'),
  path: str('extended POSIX regex matched against the path (starts with /)'),
  host: str('extended POSIX regex matched against the Host header'),
  headers: strList('headers that must be present ("Name: value" or "Name")'),
  headerMatches: arr(
    obj(
      {
        name: str('header name'),
        value: str('header value'),
        secret,
        mismatch: { type: 'string', enum: ['LOG', 'ADD', 'DELETE', 'REPLACE'], description: 'action on a mismatch' },
      },
      { required: ['name'] },
    ),
  ),
});

const kafkaRule = obj({
  role: { type: 'string', enum: ['produce', 'consume'] },
  apiKey: str(),
  apiVersion: str(),
  clientID: str(),
  topic: { type: 'string', maxLength: 255 },
});

const l7Rules = obj(
  {
    http: arr(httpRule, 'HTTP rules; any match allows the request'),
    kafka: arr(kafkaRule, 'Kafka rules'),
    dns: arr(fqdnSelector, 'DNS names/patterns the DNS proxy allows'),
    l7proto: str('name of a generic L7 parser'),
    l7: arr({ type: 'object', additionalProperties: { type: 'string' } }, 'generic L7 key-value rules'),
  },
  { description: 'L7 rules; one protocol per port rule' },
);

const tlsContext = obj({ secret, trustedCA: str(), certificate: str(), privateKey: str() }, { required: ['secret'] });

const portRule = obj({
  ports: portsList,
  rules: l7Rules,
  terminatingTLS: tlsContext,
  originatingTLS: tlsContext,
  serverNames: strList('TLS SNI names'),
  listener: obj(
    {
      envoyConfig: obj({ kind: { type: 'string', enum: ['CiliumEnvoyConfig', 'CiliumClusterwideEnvoyConfig'] }, name: { type: 'string', minLength: 1 } }, { required: ['name'] }),
      name: { type: 'string', minLength: 1 },
      priority: { type: 'integer', minimum: 1, maximum: 100 },
    },
    { required: ['envoyConfig', 'name'] },
  ),
});

/** Deny rules take ports only (no L7). */
const portDenyRule = obj({ ports: portsList });

const cidrList: JSONSchemaProps = arr({ type: 'string', pattern: CIDR_PATTERN }, 'CIDR prefixes');
const cidrRule: JSONSchemaProps = {
  ...obj({
    cidr: { type: 'string', pattern: CIDR_PATTERN, description: 'a CIDR prefix' },
    except: arr({ type: 'string', pattern: CIDR_PATTERN }, 'sub-prefixes of cidr to exclude'),
    cidrGroupRef: { type: 'string', maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' },
    cidrGroupSelector: labelSelector('selects CiliumCIDRGroups'),
  }),
  oneOf: [{ required: ['cidr'] }, { required: ['cidrGroupRef'] }, { required: ['cidrGroupSelector'] }],
};
const cidrSetList = arr(cidrRule, 'CIDR prefixes with exceptions');
const entities: JSONSchemaProps = arr({ type: 'string', enum: [...ENTITIES] }, 'entities');
const icmps = arr(
  obj({
    fields: {
      ...arr(
        obj(
          {
            family: { type: 'string', enum: ['IPv4', 'IPv6'], description: 'defaults to IPv4' },
            type: { 'x-kubernetes-int-or-string': true, description: 'ICMP type: 0-255 or a message name' },
          },
          { required: ['type'] },
        ),
      ),
      maxItems: 40,
    },
  }),
  'ICMP rules',
);
const authentication = obj({ mode: { type: 'string', enum: ['disabled', 'required', 'test-always-fail'] } }, { required: ['mode'] });
const groups = arr(obj({ aws: preserveless('AWS security group filter') }), 'cloud provider groups');
function preserveless(description: string): JSONSchemaProps {
  return obj(
    {
      labels: { type: 'object', additionalProperties: { type: 'string' } },
      region: str(),
      securityGroupsIds: strList(),
      securityGroupsNames: strList(),
    },
    { description },
  );
}
const services = arr(
  obj({
    k8sService: obj({ serviceName: str(), namespace: str() }),
    k8sServiceSelector: obj({ selector: labelSelector('service selector'), namespace: str() }, { required: ['selector'] }),
  }),
  'Kubernetes services',
);

function ingressRule(deny: boolean): JSONSchemaProps {
  return obj(
    {
      fromEndpoints: arr(endpointSelector, 'endpoints allowed to send'),
      fromRequires: arr(endpointSelector, 'additional constraints on every selected peer'),
      fromCIDR: cidrList,
      fromCIDRSet: cidrSetList,
      fromEntities: entities,
      fromGroups: groups,
      fromNodes: arr(endpointSelector, 'nodes'),
      toPorts: arr(deny ? portDenyRule : portRule, 'L4 (and L7) restrictions'),
      icmps,
      ...(deny ? {} : { authentication }),
    },
    { description: deny ? 'an ingress deny rule' : 'an ingress allow rule' },
  );
}

function egressRule(deny: boolean): JSONSchemaProps {
  return obj(
    {
      toEndpoints: arr(endpointSelector, 'endpoints allowed to receive'),
      toRequires: arr(endpointSelector, 'additional constraints on every selected peer'),
      toCIDR: cidrList,
      toCIDRSet: cidrSetList,
      toEntities: entities,
      toServices: services,
      toGroups: groups,
      toNodes: arr(endpointSelector, 'nodes'),
      toPorts: arr(deny ? portDenyRule : portRule, 'L4 (and L7) restrictions'),
      icmps,
      ...(deny ? {} : { toFQDNs: { ...arr(fqdnSelector, 'DNS names'), maxItems: 50 }, authentication }),
    },
    { description: deny ? 'an egress deny rule' : 'an egress allow rule' },
  );
}

/** One policy rule (api.Rule): exactly one of endpointSelector / nodeSelector. */
export const ruleSchema: JSONSchemaProps = {
  ...obj({
    endpointSelector,
    nodeSelector: labelSelector('selects nodes (host policies; CiliumClusterwideNetworkPolicy only)'),
    ingress: arr(ingressRule(false), 'ingress allow rules'),
    ingressDeny: arr(ingressRule(true), 'ingress deny rules (win over allows)'),
    egress: arr(egressRule(false), 'egress allow rules'),
    egressDeny: arr(egressRule(true), 'egress deny rules (win over allows)'),
    labels: arr(obj({ key: str(), value: str(), source: str() }, { required: ['key'] }), 'labels identifying the rule'),
    description: str('free-form description'),
    enableDefaultDeny: obj({ ingress: { type: 'boolean' }, egress: { type: 'boolean' } }),
    log: obj({ value: { type: 'string', maxLength: 32 } }),
  }, { description: 'a policy rule' }),
  oneOf: [{ required: ['endpointSelector'] }, { required: ['nodeSelector'] }],
};

const meta: Record<string, JSONSchemaProps> = {
  apiVersion: str('versioned schema of this representation of an object'),
  kind: str('REST resource this object represents'),
  metadata: { type: 'object' },
};

function policySchema(): JSONSchemaProps {
  return obj(
    {
      ...meta,
      spec: ruleSchema,
      specs: arr(ruleSchema, 'a list of rules'),
      // Cilium's docs and examples put a free-form description at the top level; accepted rather than pruned.
      description: str('free-form description of the policy'),
      status: preserve('status of the policy as reported by the agents'),
    },
    { required: ['metadata'], description: 'a Cilium network policy: spec (one rule) and/or specs (several)' },
  );
}

function crd(
  kind: string,
  plural: string,
  shortNames: string[],
  scope: 'Namespaced' | 'Cluster',
  schema: JSONSchemaProps,
  columns: NonNullable<CustomResourceDefinition['spec']['versions'][number]['additionalPrinterColumns']>,
  statusSubresource: boolean,
): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.cilium.io`, labels: { 'io.cilium.k8s.crd.schema.version': CRD_SCHEMA_VERSION } },
    spec: {
      group: 'cilium.io',
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase(), shortNames, categories: ['cilium', ...(plural.includes('policies') ? ['ciliumpolicy'] : [])] },
      scope,
      versions: [
        {
          name: 'v2',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: schema },
          ...(statusSubresource ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: columns,
        },
      ],
    },
  };
}

/** Bumped whenever a schema here changes; the operator re-applies CRDs whose label differs. */
export const CRD_SCHEMA_VERSION = '1.0.0-cilium-ts.1';

const age = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };
const valid = { name: 'Valid', type: 'string', jsonPath: ".status.conditions[?(@.type=='Valid')].status" };

const ciliumNodeSchema = obj(
  {
    ...meta,
    spec: obj(
      {
        addresses: arr(obj({ ip: str('IPv4 or IPv6 address'), type: str('InternalIP, ExternalIP or CiliumInternalIP') }), 'addresses of the node'),
        health: obj({ ipv4: str(), ipv6: str() }, { description: 'health endpoint addresses' }),
        ingress: obj({ ipv4: str(), ipv6: str() }),
        encryption: obj({ key: { type: 'integer' } }),
        'instance-id': str('cloud instance id'),
        nodeidentity: { type: 'integer' },
        bootid: str(),
        ipam: obj(
          {
            podCIDRs: strList('pod CIDRs allocated to this node (cluster-pool: written by the operator)'),
            pool: { type: 'object', description: 'IPs available for allocation', additionalProperties: obj({ owner: str(), resource: str() }) },
            pools: preserve('multi-pool requests and allocations'),
            'ipv6-pool': { type: 'object', additionalProperties: obj({ owner: str(), resource: str() }) },
            'min-allocate': { type: 'integer' },
            'max-allocate': { type: 'integer' },
            'pre-allocate': { type: 'integer' },
            'max-above-watermark': { type: 'integer' },
            'static-ip-tags': { type: 'object', additionalProperties: { type: 'string' } },
          },
          { description: 'IPAM settings of the node' },
        ),
        eni: preserve('AWS ENI settings'),
        azure: preserve('Azure settings'),
        'alibaba-cloud': preserve('AlibabaCloud settings'),
      },
      { description: 'node specification' },
    ),
    status: obj(
      {
        ipam: obj(
          {
            used: { type: 'object', additionalProperties: obj({ owner: str(), resource: str() }) },
            'ipv6-used': { type: 'object', additionalProperties: obj({ owner: str(), resource: str() }) },
            'release-ips': { type: 'object', additionalProperties: { type: 'string', enum: ['marked-for-release', 'ready-for-release', 'do-not-release', 'released'] } },
            'operator-status': obj({ error: str('error the operator met while allocating for this node') }),
            'pod-cidrs': { type: 'object', additionalProperties: obj({ status: { type: 'string', enum: ['released', 'depleted', 'in-use'] } }) },
          },
        ),
        eni: preserve('AWS ENI status'),
        azure: preserve('Azure status'),
        'alibaba-cloud': preserve('AlibabaCloud status'),
        encryption: preserve('encryption status'),
      },
      { description: 'node status' },
    ),
  },
  { required: ['metadata', 'spec'], description: 'a Cilium node: one per Kubernetes node, created by the agent' },
);

const ciliumEndpointSchema = obj(
  {
    ...meta,
    status: obj(
      {
        id: { type: 'integer', format: 'int64', description: 'local endpoint id' },
        identity: obj({ id: { type: 'integer', format: 'int64' }, labels: strList() }, { description: 'security identity' }),
        networking: obj(
          { addressing: arr(obj({ ipv4: str(), ipv6: str() })), node: str('node IP') },
          { required: ['addressing'] },
        ),
        state: str('endpoint state (ready, waiting-for-identity, ...)'),
        encryption: obj({ key: { type: 'integer' } }),
        'named-ports': arr(obj({ name: str(), port: { type: 'integer', minimum: 0, maximum: 65535 }, protocol: { type: 'string', enum: [...PROTOCOLS] } })),
        'service-account': str(),
        'external-identifiers': preserve('pod/container identifiers'),
        health: preserve('endpoint health'),
        log: { type: 'array', items: preserve('status change') },
        policy: preserve('policy enforcement status'),
        'visibility-policy-status': str(),
      },
      { description: 'endpoint status as written by the agent' },
    ),
  },
  { required: ['metadata'], description: 'a Cilium endpoint: one per pod managed by Cilium' },
);

const ciliumIdentitySchema = obj(
  {
    ...meta,
    'security-labels': { type: 'object', additionalProperties: { type: 'string' }, description: 'security-relevant labels of the identity' },
  },
  { required: ['metadata', 'security-labels'], description: 'a security identity; metadata.name is its numeric id' },
);

// ---- CiliumLoadBalancerIPPool (LB-IPAM) ------------------------------------------------------------------
// As Cilium's pkg/k8s/apis/cilium.io/client/crds/v2/ciliumloadbalancerippools.yaml: cluster-scoped, served as
// v2 (storage) and v2alpha1 (same schema), short names ippools/ippool/lbippool/lbippools, a status
// subresource with metav1.Conditions. `cidrs` is the pre-1.15 v2alpha1 spelling of `blocks` (still accepted).

const ipBlock = obj(
  {
    cidr: { type: 'string', format: 'cidr', description: 'an IPv4 or IPv6 CIDR' },
    start: str('first IP of a range (alone: a single IP)'),
    stop: str('last IP of a range (inclusive)'),
  },
  { description: 'one IP block: a CIDR, or start (and stop)' },
);

const serviceSelector = obj(
  {
    matchExpressions: arr(
      obj(
        {
          key: str('label key the selector applies to'),
          operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'], description: "key's relationship to the values" },
          values: strList('values for In/NotIn; empty for Exists/DoesNotExist'),
        },
        { required: ['key', 'operator'] },
      ),
      'label selector requirements (ANDed)',
    ),
    matchLabels: { type: 'object', description: 'map of {key,value} pairs (ANDed)', additionalProperties: { type: 'string', maxLength: 63, pattern: LABEL_VALUE_PATTERN } },
  },
  { description: 'selects the Services eligible for IPs of this pool (also by io.kubernetes.service.namespace / io.kubernetes.service.name); unset: all' },
);

const metaCondition = obj(
  {
    type: { type: 'string', maxLength: 316, description: 'condition type, e.g. cilium.io/IPsAvailable' },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
    lastTransitionTime: { type: 'string', format: 'date-time' },
    reason: { type: 'string', maxLength: 1024, minLength: 1, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' },
    message: { type: 'string', maxLength: 32768 },
  },
  { required: ['lastTransitionTime', 'message', 'reason', 'status', 'type'] },
);

const lbIpPoolSchema = obj(
  {
    ...meta,
    spec: obj(
      {
        blocks: arr(ipBlock, 'the IP blocks of this pool'),
        cidrs: arr(ipBlock, 'deprecated spelling of blocks (v2alpha1 before Cilium 1.15)'),
        allowFirstLastIPs: { type: 'string', enum: ['Yes', 'No'], description: 'No: the first and last IP of each CIDR block (larger than /31, /127) are not allocated' },
        disabled: { type: 'boolean', default: false, description: 'true: no new IPs are allocated from this pool; existing allocations stay' },
        serviceSelector,
      },
      { description: 'the IP blocks Services of type LoadBalancer get their IPs from' },
    ),
    status: obj(
      { conditions: arr(metaCondition, 'cilium.io/PoolConflict, cilium.io/IPsTotal, cilium.io/IPsAvailable, cilium.io/IPsUsed') },
      { description: 'written by the operator (LB-IPAM)' },
    ),
  },
  { required: ['metadata', 'spec'], description: 'a pool of IPs the operator assigns to Services of type LoadBalancer' },
);

function lbIpPoolCrd(): CustomResourceDefinition {
  const columns = [
    { name: 'Disabled', type: 'boolean', jsonPath: '.spec.disabled' },
    { name: 'Conflicting', type: 'string', jsonPath: '.status.conditions[?(@.type=="cilium.io/PoolConflict")].status' },
    { name: 'IPs Available', type: 'string', jsonPath: '.status.conditions[?(@.type=="cilium.io/IPsAvailable")].message' },
    age,
  ];
  const version = (name: string, storage: boolean): CustomResourceDefinition['spec']['versions'][number] => ({
    name,
    served: true,
    storage,
    schema: { openAPIV3Schema: lbIpPoolSchema },
    subresources: { status: {} },
    additionalPrinterColumns: columns,
  });
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'ciliumloadbalancerippools.cilium.io', labels: { 'io.cilium.k8s.crd.schema.version': CRD_SCHEMA_VERSION } },
    spec: {
      group: 'cilium.io',
      names: {
        kind: 'CiliumLoadBalancerIPPool',
        listKind: 'CiliumLoadBalancerIPPoolList',
        plural: 'ciliumloadbalancerippools',
        singular: 'ciliumloadbalancerippool',
        shortNames: ['ippools', 'ippool', 'lbippool', 'lbippools'],
        categories: ['cilium'],
      },
      scope: 'Cluster',
      versions: [version('v2', true), version('v2alpha1', false)],
    },
  };
}

/** Every CRD, in registration order. */
export function ciliumCrds(): CustomResourceDefinition[] {
  return [
    crd('CiliumNetworkPolicy', 'ciliumnetworkpolicies', ['cnp', 'ciliumnp'], 'Namespaced', policySchema(), [age, valid], true),
    crd('CiliumClusterwideNetworkPolicy', 'ciliumclusterwidenetworkpolicies', ['ccnp'], 'Cluster', policySchema(), [age, valid], true),
    crd(
      'CiliumNode',
      'ciliumnodes',
      ['cn', 'ciliumn'],
      'Cluster',
      ciliumNodeSchema,
      [
        { name: 'CiliumInternalIP', type: 'string', jsonPath: ".spec.addresses[?(@.type=='CiliumInternalIP')].ip" },
        { name: 'InternalIP', type: 'string', jsonPath: ".spec.addresses[?(@.type=='InternalIP')].ip" },
        { name: 'PodCIDRs', type: 'string', jsonPath: '.spec.ipam.podCIDRs' },
        age,
      ],
      true,
    ),
    crd(
      'CiliumEndpoint',
      'ciliumendpoints',
      ['cep', 'ciliumep'],
      'Namespaced',
      ciliumEndpointSchema,
      [
        { name: 'Security Identity', type: 'integer', jsonPath: '.status.identity.id' },
        { name: 'Endpoint State', type: 'string', jsonPath: '.status.state' },
        { name: 'IPv4', type: 'string', jsonPath: '.status.networking.addressing[0].ipv4' },
        { name: 'IPv6', type: 'string', jsonPath: '.status.networking.addressing[0].ipv6' },
      ],
      false,
    ),
    crd(
      'CiliumIdentity',
      'ciliumidentities',
      ['ciliumid'],
      'Cluster',
      ciliumIdentitySchema,
      [
        { name: 'Namespace', type: 'string', jsonPath: ".metadata.labels.io\\.kubernetes\\.pod\\.namespace" },
        age,
      ],
      false,
    ),
    lbIpPoolCrd(),
  ];
}
