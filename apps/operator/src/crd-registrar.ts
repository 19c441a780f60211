// Registers the cilium.io/v2 CRDs: create, or update when our schema version label (or the spec) differs,
// then wait until each reports Established=True.
import { isAlreadyExists, isConflict, Resources, type CustomResourceDefinition, type KubeClient } from '@cilium-ts/k8s';
import type { Logger } from 'pino';

interface CrdOnServer extends CustomResourceDefinition {
  metadata: CustomResourceDefinition['metadata'] & { resourceVersion?: string };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

/** JSON with sorted keys: the apiserver returns fields in its own order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function sameSpec(a: CustomResourceDefinition, b: CrdOnServer): boolean {
  const want = a.metadata.labels?.['io.cilium.k8s.crd.schema.version'];
  return want === b.metadata.labels?.['io.cilium.k8s.crd.schema.version'] &&
    canonical(a.spec.versions) === canonical(b.spec.versions) && canonical(a.spec.names) === canonical(b.spec.names) && a.spec.scope === b.spec.scope;
}

export async function registerCrds(client: KubeClient, crds: CustomResourceDefinition[], log: Logger, timeoutMs = 60_000): Promise<void> {
  for (const crd of crds) {
    for (let attempt = 0; ; attempt++) {
      const cur = await client.tryGet<CrdOnServer>(Resources.CustomResourceDefinition, crd.metadata.name);
      try {
        if (!cur) {
          await client.create(Resources.CustomResourceDefinition, crd);
          log.info({ crd: crd.metadata.name }, 'CRD created');
        } else if (!sameSpec(crd, cur)) {
          await client.update(Resources.CustomResourceDefinition, {
            ...crd,
            metadata: { ...cur.metadata, labels: { ...cur.metadata.labels, ...crd.metadata.labels } },
          });
          log.info({ crd: crd.metadata.name }, 'CRD updated');
        } else {
          log.debug({ crd: crd.metadata.name }, 'CRD up to date');
        }
        break;
      } catch (e) {
        // Another operator replica raced us: re-read and retry.
        if ((isConflict(e) || isAlreadyExists(e)) && attempt < 5) continue;
        throw e;
      }
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    for (;;) {
      const cur = await client.get<CrdOnServer>(Resources.CustomResourceDefinition, crd.metadata.name);
      const est = cur.status?.conditions?.find((c) => c.type === 'Established');
      if (est?.status === 'True') break;
      if (Date.now() > deadline) {
        const err = new Error(`CRD ${crd.metadata.name} not Established after ${timeoutMs} ms: ${est?.message ?? 'no condition'}`);
        throw Object.assign(err, { code: 'ECRDNOTESTABLISHED', hint: 'check the apiserver log (apiextensions) and the CRD status conditions' });
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  log.info({ crds: crds.map((c) => c.metadata.name) }, 'CRDs established');
}
