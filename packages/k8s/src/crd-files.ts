// Rendering of the CRDs to the YAML files shipped in packages/k8s/crds/ (and copied into the Helm chart).
import { stringify } from 'yaml';
import type { CustomResourceDefinition } from './crd-schemas.js';

/** `ciliumnetworkpolicies.yaml` for ciliumnetworkpolicies.cilium.io. */
export function crdFileName(crd: CustomResourceDefinition): string {
  return `${crd.spec.names.plural}.yaml`;
}

export function renderCrdYaml(crd: CustomResourceDefinition): string {
  const header = '# Generated from packages/k8s/src/crd-schemas.ts; do not edit (UPDATE_CRDS=1 npx vitest run packages/k8s).\n';
  return header + stringify(JSON.parse(JSON.stringify(crd)) as unknown, { lineWidth: 0, aliasDuplicateObjects: false });
}
