import { request } from 'node:http';
import type { DaemonConfigurationResponse, Endpoint, EndpointChangeRequest, IpamResponse, StatusResponse } from './models.js';

export const DEFAULT_AGENT_SOCKET = '/var/run/cilium/cilium.sock';

/** A failed agent call: `code` is the agent's error code, or AGENT_UNREACHABLE when nothing answered. */
export class AgentClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
    readonly status?: number,
    readonly errno?: string,
  ) {
    super(message);
    this.name = 'AgentClientError';
  }
}

/** Accepts `unix:///path`, `unix:/path` or a bare path. */
export function parseAgentHost(host: string): string {
  return host.replace(/^unix:\/\//, '').replace(/^unix:/, '');
}

/** Client of the agent REST API on its unix socket (one connection per call, no keep-alive). */
export class AgentClient {
  readonly socketPath: string;

  constructor(host: string = DEFAULT_AGENT_SOCKET, private readonly timeoutMs = 30_000) {
    this.socketPath = parseAgentHost(host);
  }

  call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          method,
          path,
          agent: false,
          timeout: this.timeoutMs,
          headers: { host: 'cilium-agent', ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = undefined;
            if (text.length > 0) {
              try {
                parsed = JSON.parse(text);
              } catch {
                parsed = text;
              }
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new AgentClientError('AGENT_TIMEOUT', `cilium-agent at ${this.socketPath} did not answer ${method} ${path} within ${this.timeoutMs} ms`, 'check the agent log')));
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e instanceof AgentClientError) return reject(e);
        reject(new AgentClientError('AGENT_UNREACHABLE', `cannot reach cilium-agent at ${this.socketPath}: ${e.code ?? e.message}`, 'is cilium-agent running? check --socket-path / socket-path in the CNI config', undefined, e.code));
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Like call(), but a non-2xx answer throws AgentClientError with the agent's code and hint. */
  async must<T>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.call<T>(method, path, body);
    if (r.status >= 200 && r.status < 300) return r.body;
    const e = (r.body ?? {}) as { code?: string; message?: string; hint?: string };
    throw new AgentClientError(e.code ?? `HTTP_${r.status}`, e.message ?? `${method} ${path} failed with HTTP ${r.status}`, e.hint ?? 'see the agent log', r.status);
  }

  healthz(): Promise<StatusResponse> {
    return this.must('GET', '/v1/healthz');
  }
  config(): Promise<DaemonConfigurationResponse> {
    return this.must('GET', '/v1/config');
  }
  ipamAllocate(owner: string): Promise<IpamResponse> {
    return this.must('POST', `/v1/ipam?family=ipv4&owner=${encodeURIComponent(owner)}`);
  }
  /** Releases an address; false if it was not allocated. */
  async ipamRelease(ip: string): Promise<boolean> {
    const r = await this.call('DELETE', `/v1/ipam/${encodeURIComponent(ip)}`);
    if (r.status === 404) return false;
    if (r.status >= 300) await this.must('DELETE', `/v1/ipam/${encodeURIComponent(ip)}`);
    return true;
  }
  endpointList(): Promise<Endpoint[]> {
    return this.must('GET', '/v1/endpoint');
  }
  async endpointGet(ref: string): Promise<Endpoint | undefined> {
    const r = await this.call<Endpoint>('GET', `/v1/endpoint/${encodeURIComponent(ref)}`);
    if (r.status === 404) return undefined;
    if (r.status >= 300) return this.must('GET', `/v1/endpoint/${encodeURIComponent(ref)}`);
    return r.body;
  }
  endpointPut(ref: string, req: EndpointChangeRequest): Promise<Endpoint> {
    return this.must('PUT', `/v1/endpoint/${encodeURIComponent(ref)}`, req);
  }
  /** Deletes an endpoint; false if it did not exist. */
  async endpointDelete(ref: string): Promise<boolean> {
    const r = await this.call('DELETE', `/v1/endpoint/${encodeURIComponent(ref)}`);
    if (r.status === 404) return false;
    if (r.status >= 300) await this.must('DELETE', `/v1/endpoint/${encodeURIComponent(ref)}`);
    return true;
  }
}
