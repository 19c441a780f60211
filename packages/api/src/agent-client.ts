/**
 * A small typed client of the agent REST API over its unix socket (node:http with `socketPath`,
 * no keep-alive: one short-lived process, one request at a time, nothing left open on exit).
 * Shared by the CNI plugin and the CLI.
 */
import { request } from 'node:http';
import type {
  ApiError,
  DaemonConfigurationResponse,
  Endpoint,
  EndpointChangeRequest,
  IpamResponse,
  Service,
  ServiceSpec,
  StatusResponse,
} from './models.js';

type ApiErrorBody = Partial<ApiError>;

export const DEFAULT_SOCKET_PATH = '/var/run/cilium/cilium.sock';

/** Accepts `unix:///path`, `unix:/path` or a bare path (the forms of `cilium-dbg -H`). */
export function parseAgentHost(host: string): string {
  return host.replace(/^unix:\/\//, '').replace(/^unix:/, '');
}

/** The agent could not be reached at all (no socket, connection refused, timeout). */
export class AgentUnreachableError extends Error {
  override readonly name = 'AgentUnreachableError';
  readonly code = 'AGENT_UNREACHABLE';
  readonly errno: number | undefined;
  readonly hint: string;
  readonly socketPath: string;
  constructor(socketPath: string, op: string, cause: unknown) {
    const c = cause as { code?: unknown; errno?: unknown; message?: unknown } | undefined;
    const why = typeof c?.code === 'string' ? c.code : typeof c?.message === 'string' ? c.message : String(cause);
    super(`${op}: cannot reach cilium-agent at unix://${socketPath} (${why})`, { cause });
    this.socketPath = socketPath;
    this.errno = typeof c?.errno === 'number' ? Math.abs(c.errno) : undefined;
    this.hint = `is cilium-agent running? (it serves its API on ${socketPath}; check the agent's --socket-path and the netconf "socket-path")`;
  }
}

/** The agent answered with a 4xx/5xx status. */
export class AgentApiError extends Error {
  override readonly name = 'AgentApiError';
  /** The agent's error code (e.g. `IPAM_EXHAUSTED`), or `AGENT_HTTP_<status>`. */
  readonly code: string;
  readonly status: number;
  readonly errno: number | undefined = undefined;
  readonly hint: string;
  constructor(op: string, status: number, body: ApiErrorBody | undefined, raw: string) {
    const msg = body?.message ?? (raw.trim() || `HTTP ${status}`);
    super(`${op}: agent answered ${status}: ${msg}`);
    this.status = status;
    this.code = body?.code ?? `AGENT_HTTP_${status}`;
    this.hint = body?.hint ?? 'see the cilium-agent log for details';
  }
}

/** How a request reaches the agent: HTTP over its unix socket by default, or in-process. */
export type AgentTransport = (method: string, path: string, body: unknown) => Promise<RawResponse>;

export interface AgentClientOptions {
  socketPath?: string;
  /**
   * Replaces the socket: the agent itself passes one that runs the request through its own routes
   * (`ApiServer.inject`), so the CNI logic it hosts makes the same calls without a round trip.
   */
  transport?: AgentTransport;
  /** Per-request timeout, default 30 s. */
  timeoutMs?: number;
}

export interface RawResponse {
  status: number;
  body: string;
}

export class AgentClient {
  readonly socketPath: string;
  readonly timeoutMs: number;
  private readonly transport: AgentTransport | undefined;

  constructor(opts: AgentClientOptions = {}) {
    this.socketPath = opts.socketPath ?? DEFAULT_SOCKET_PATH;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.transport = opts.transport;
  }

  /** `GET /v1/healthz` */
  healthz(): Promise<StatusResponse> {
    return this.json<StatusResponse>('GET', '/v1/healthz', 'get agent health');
  }

  /** `GET /v1/config` */
  config(): Promise<DaemonConfigurationResponse> {
    return this.json<DaemonConfigurationResponse>('GET', '/v1/config', 'get agent config');
  }

  /** `POST /v1/ipam?family=ipv4&owner=OWNER`: allocate the next free address. */
  ipamAllocate(o: { family?: 'ipv4'; owner?: string } = {}): Promise<IpamResponse> {
    const q = new URLSearchParams({ family: o.family ?? 'ipv4' });
    if (o.owner !== undefined) q.set('owner', o.owner);
    return this.json<IpamResponse>('POST', `/v1/ipam?${q.toString()}`, 'allocate an IP address');
  }

  /**
   * `DELETE /v1/ipam/{ip}[?owner=OWNER]`: true if released, false if it was not allocated (404).
   * `owner` is the one given at allocation; an agent that checks it refuses to release someone else's IP.
   * 409 (the address is in use by an endpoint) is thrown as an AgentApiError with status 409.
   */
  async ipamRelease(ip: string, o: { owner?: string } = {}): Promise<boolean> {
    const q = o.owner !== undefined ? `?${new URLSearchParams({ owner: o.owner }).toString()}` : '';
    return this.deleteOrAbsent(`/v1/ipam/${encodeURIComponent(ip)}${q}`, `release IP ${ip}`);
  }

  /** `GET /v1/endpoint` */
  endpointList(): Promise<Endpoint[]> {
    return this.json<Endpoint[]>('GET', '/v1/endpoint', 'list endpoints');
  }

  /** `GET /v1/endpoint/{id}`, undefined on 404. `id` is a number or `container-id:<cid>`. */
  async endpointGet(id: number | string): Promise<Endpoint | undefined> {
    const op = `get endpoint ${id}`;
    const r = await this.raw('GET', `/v1/endpoint/${endpointPath(id)}`, op);
    if (r.status === 404) return undefined;
    return parseOk<Endpoint>(op, r);
  }

  /** `PUT /v1/endpoint/{id}`: create the endpoint. */
  endpointPut(id: number | string, req: EndpointChangeRequest): Promise<Endpoint> {
    return this.json<Endpoint>('PUT', `/v1/endpoint/${endpointPath(id)}`, `create endpoint ${id}`, req);
  }

  /** `DELETE /v1/endpoint/{id}`: true if deleted, false if it did not exist (404). */
  endpointDelete(id: number | string): Promise<boolean> {
    return this.deleteOrAbsent(`/v1/endpoint/${endpointPath(id)}`, `delete endpoint ${id}`);
  }

  /** `GET /v1/service` */
  serviceList(): Promise<Service[]> {
    return this.json<Service[]>('GET', '/v1/service', 'list services');
  }

  /** `GET /v1/service/{id}`, undefined on 404. */
  async serviceGet(id: number): Promise<Service | undefined> {
    const op = `get service ${id}`;
    const r = await this.raw('GET', `/v1/service/${id}`, op);
    if (r.status === 404) return undefined;
    return parseOk<Service>(op, r);
  }

  /** `PUT /v1/service/{id}`: create or update the service of the spec's frontend. */
  servicePut(id: number, spec: ServiceSpec): Promise<Service> {
    return this.json<Service>('PUT', `/v1/service/${id}`, `upsert service ${id}`, spec);
  }

  /** `DELETE /v1/service/{id}`: true if deleted, false if it did not exist (404). */
  serviceDelete(id: number): Promise<boolean> {
    return this.deleteOrAbsent(`/v1/service/${id}`, `delete service ${id}`);
  }

  private async deleteOrAbsent(path: string, op: string): Promise<boolean> {
    const r = await this.raw('DELETE', path, op);
    if (r.status === 404) return false;
    parseOk<unknown>(op, r);
    return true;
  }

  private async json<T>(method: string, path: string, op: string, body?: unknown): Promise<T> {
    return parseOk<T>(op, await this.raw(method, path, op, body));
  }

  private raw(method: string, path: string, op: string, body?: unknown): Promise<RawResponse> {
    if (this.transport) return this.transport(method, path, body);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<RawResponse>((resolve, reject) => {
      const headers: Record<string, string | number> = { Accept: 'application/json', Connection: 'close' };
      if (payload) {
        headers['Content-Type'] = 'application/json';
        headers['Content-Length'] = payload.length;
      }
      const req = request(
        { socketPath: this.socketPath, path, method, headers, agent: false, timeout: this.timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (e) => reject(new AgentUnreachableError(this.socketPath, op, e)));
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error(`timed out after ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (e) => reject(new AgentUnreachableError(this.socketPath, op, e)));
      req.end(payload);
    });
  }
}

function endpointPath(id: number | string): string {
  // `container-id:<cid>` keeps its colon (the agent routes on it); the id itself is [A-Za-z0-9_.-].
  return typeof id === 'number' ? String(id) : id.split(':').map(encodeURIComponent).join(':');
}

function parseOk<T>(op: string, r: RawResponse): T {
  let parsed: unknown;
  if (r.body.trim() !== '') {
    try {
      parsed = JSON.parse(r.body);
    } catch {
      parsed = undefined;
    }
  }
  if (r.status < 200 || r.status >= 300) {
    const b = parsed && typeof parsed === 'object' ? (parsed as ApiErrorBody) : undefined;
    throw new AgentApiError(op, r.status, b, r.body);
  }
  return parsed as T;
}
