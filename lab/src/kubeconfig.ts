// kubeconfig files with the certificates embedded, so a file is usable on its own.
import { readFileSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import type { CertPaths } from './certs.js';

export interface KubeconfigSpec {
  path: string;
  clusterName: string;
  server: string;
  caFile: string;
  user: string;
  client: CertPaths;
}

function b64(path: string): string {
  return readFileSync(path).toString('base64');
}

export function writeKubeconfig(s: KubeconfigSpec): void {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: s.clusterName, cluster: { server: s.server, 'certificate-authority-data': b64(s.caFile) } }],
    users: [{ name: s.user, user: { 'client-certificate-data': b64(s.client.cert), 'client-key-data': b64(s.client.key) } }],
    contexts: [{ name: s.clusterName, context: { cluster: s.clusterName, user: s.user } }],
    'current-context': s.clusterName,
    preferences: {},
  };
  writeFileSync(s.path, stringify(doc), { mode: 0o600 });
}
