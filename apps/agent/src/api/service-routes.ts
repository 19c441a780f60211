import type { ServiceSpec } from '@cilium-ts/api';
import { AgentError } from '../errors.js';
import type { ServiceManager } from '../service/service-manager.js';
import type { ApiServer } from './api-server.js';

function parseId(raw: string | undefined): number {
  const id = Number(raw);
  if (!/^\d+$/.test(raw ?? '') || !Number.isInteger(id) || id < 1 || id > 65535) {
    throw new AgentError('SERVICE_INVALID', `service id "${raw ?? ''}" is not an integer 1..65535`, 'use the ID column of `cilium-dbg service list`', 400);
  }
  return id;
}

/** Cilium's /service routes: GET /v1/service, GET|PUT|DELETE /v1/service/{id}. */
export function serviceRoutes(api: ApiServer, services: () => ServiceManager): void {
  api
    .route('GET', '/v1/service', () => ({ status: 200, body: services().list() }))
    .route('GET', '/v1/service/{id}', ({ params }) => {
      const id = parseId(params.id);
      const s = services().get(id);
      if (!s) throw new AgentError('SERVICE_NOT_FOUND', `service ${id} not found`, 'list services with GET /v1/service', 404);
      return { status: 200, body: s };
    })
    .route('PUT', '/v1/service/{id}', ({ params, body }) => {
      const id = parseId(params.id);
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new AgentError('SERVICE_INVALID', 'request body is not a ServiceSpec object', 'send { "frontend-address": {...}, "backend-addresses": [...], "flags": {"type": "ClusterIP"} }', 400);
      }
      const spec = body as ServiceSpec;
      if (spec.id !== undefined && spec.id !== 0 && spec.id !== id) {
        throw new AgentError('SERVICE_INVALID', `body id ${String(spec.id)} differs from the path id ${id}`, 'omit id in the body, or make them equal', 400);
      }
      const r = services().upsertService({ ...spec, id }, 'api');
      return { status: r.created ? 201 : 200, body: services().get(r.id) };
    })
    .route('DELETE', '/v1/service/{id}', ({ params }) => {
      const id = parseId(params.id);
      if (!services().deleteServiceById(id)) throw new AgentError('SERVICE_NOT_FOUND', `service ${id} not found`, 'nothing to delete', 404);
      return { status: 200 };
    });
}
