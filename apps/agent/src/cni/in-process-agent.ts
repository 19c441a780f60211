/**
 * The CNI plugin's view of the agent (CniAgent: AgentClient's calls and errors) for the plugin logic
 * running inside the agent: each call goes through ApiServer.inject, i.e. the very routes, handlers
 * and error mapping of the REST API, without a socket round trip. Paths, answers and errors are
 * AgentClient's (packages/api/src/agent-client.ts).
 */
import { AgentApiError } from '@cilium-ts/api';
import type { Endpoint, EndpointChangeRequest, IpamResponse, StatusResponse } from '@cilium-ts/api';
import type { CniAgent } from '@cilium-ts/cni';
import type { ApiResponse, ApiServer } from '../api/api-server.js';

export class InProcessAgent implements CniAgent {
  constructor(
    private readonly api: ApiServer,
    /** Only for messages (the plugin names the socket in "unreachable" errors, which cannot happen here). */
    readonly socketPath: string,
  ) {}

  healthz(): Promise<StatusResponse> {
    return this.json<StatusResponse>('GET', '/v1/healthz', 'get agent health');
  }

  ipamAllocate(o: { family?: 'ipv4'; owner?: string } = {}): Promise<IpamResponse> {
    const q = new URLSearchParams({ family: o.family ?? 'ipv4' });
    if (o.owner !== undefined) q.set('owner', o.owner);
    return this.json<IpamResponse>('POST', `/v1/ipam?${q.toString()}`, 'allocate an IP address');
  }

  ipamRelease(ip: string, o: { owner?: string } = {}): Promise<boolean> {
    const q = o.owner !== undefined ? `?${new URLSearchParams({ owner: o.owner }).toString()}` : '';
    return this.deleteOrAbsent(`/v1/ipam/${encodeURIComponent(ip)}${q}`, `release IP ${ip}`);
  }

  endpointList(): Promise<Endpoint[]> {
    return this.json<Endpoint[]>('GET', '/v1/endpoint', 'list endpoints');
  }

  async endpointGet(id: number | string): Promise<Endpoint | undefined> {
    const op = `get endpoint ${id}`;
    const r = await this.api.inject('GET', `/v1/endpoint/${endpointPath(id)}`);
    if (r.status === 404) return undefined;
    return parseOk<Endpoint>(op, r);
  }

  endpointPut(id: number | string, req: EndpointChangeRequest): Promise<Endpoint> {
    return this.json<Endpoint>('PUT', `/v1/endpoint/${endpointPath(id)}`, `create endpoint ${id}`, req);
  }

  endpointDelete(id: number | string): Promise<boolean> {
    return this.deleteOrAbsent(`/v1/endpoint/${endpointPath(id)}`, `delete endpoint ${id}`);
  }

  private async deleteOrAbsent(path: string, op: string): Promise<boolean> {
    const r = await this.api.inject('DELETE', path);
    if (r.status === 404) return false;
    parseOk<unknown>(op, r);
    return true;
  }

  private async json<T>(method: string, path: string, op: string, body?: unknown): Promise<T> {
    return parseOk<T>(op, await this.api.inject(method, path, body));
  }
}

function endpointPath(id: number | string): string {
  return typeof id === 'number' ? String(id) : id.split(':').map(encodeURIComponent).join(':');
}

function parseOk<T>(op: string, r: ApiResponse): T {
  let parsed: unknown;
  if (r.text.trim() !== '') {
    try {
      parsed = JSON.parse(r.text);
    } catch {
      parsed = undefined;
    }
  }
  if (r.status < 200 || r.status >= 300) {
    const b = parsed && typeof parsed === 'object' ? (parsed as { code?: string; message?: string; hint?: string }) : undefined;
    throw new AgentApiError(op, r.status, b, r.text);
  }
  return parsed as T;
}
