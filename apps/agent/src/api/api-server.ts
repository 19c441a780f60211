import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { AgentError } from '../errors.js';
import type { Logger } from '../log.js';

export interface HandlerRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  /** The JSON body, parsed (undefined when empty, or for a `raw` route). */
  body: unknown;
  /** Request headers (names lower-case). */
  headers: IncomingHttpHeaders;
  /** The body bytes as sent; only for a `raw` route (empty otherwise). */
  rawBody: Buffer;
}

/** A JSON answer (`body` serialized), or a text answer sent as is with extra headers. */
export type HandlerResult = { status: number; body?: unknown } | { status: number; text: string; contentType?: string; headers?: Record<string, string> };

export type Handler = (req: HandlerRequest) => HandlerResult | Promise<HandlerResult>;

export interface RouteOptions {
  /** Do not parse the body as JSON: the handler gets the bytes in `rawBody`. */
  raw?: boolean;
}

/** A served answer: status, headers, body text. */
export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
}

interface Route {
  method: string;
  path: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
  raw: boolean;
}

const MAX_BODY = 1 << 20;

/** The agent's REST API: JSON over HTTP/1.1 on a unix socket, routes as in packages/api/openapi.yaml. */
export class ApiServer {
  readonly #routes: Route[] = [];
  #server: Server | undefined;

  constructor(
    private readonly socketPath: string,
    private readonly log: Logger,
  ) {}

  route(method: string, path: string, handler: Handler, opts: RouteOptions = {}): this {
    const names: string[] = [];
    const pattern = new RegExp(
      '^' +
        path.replace(/\{(\w+)\}/g, (_, n: string) => {
          names.push(n);
          return '([^/]+)';
        }) +
        '/?$',
    );
    this.#routes.push({ method, path, pattern, names, handler, raw: opts.raw ?? false });
    return this;
  }

  /** `METHOD /path/{param}` of every route, for checking against the OpenAPI document. */
  get routes(): string[] {
    return this.#routes.map((r) => `${r.method} ${r.path}`);
  }

  async listen(): Promise<void> {
    mkdirSync(dirname(this.socketPath), { recursive: true });
    try {
      if (statSync(this.socketPath).isSocket()) rmSync(this.socketPath);
    } catch {
      // no stale socket
    }
    const server = createServer((req, res) => void this.#dispatch(req, res));
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(new AgentError('API_LISTEN', `cannot listen on ${this.socketPath}: ${e.message}`, e.code === 'EADDRINUSE' ? 'another agent uses this socket; pass a different --socket-path' : 'check the directory permissions', 500)),
      );
      server.listen(this.socketPath, () => resolve());
    });
    this.#server = server;
  }

  async close(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }

  /**
   * Serves one request without a socket: the same routing, handlers and error mapping as over HTTP
   * (used by the agent's in-process callers, e.g. the CNI plugin logic run for POST /v1/cni).
   */
  inject(method: string, url: string, body?: unknown): Promise<ApiResponse> {
    const raw = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
    return this.#handle(method, url, {}, async () => raw);
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const out = await this.#handle(req.method ?? 'GET', req.url ?? '/', req.headers, () => readBody(req));
    res.writeHead(out.status, { ...out.headers, 'content-length': Buffer.byteLength(out.text) });
    res.end(out.text);
  }

  async #handle(method: string, rawUrl: string, headers: IncomingHttpHeaders, readRaw: () => Promise<Buffer>): Promise<ApiResponse> {
    const url = new URL(rawUrl, 'http://agent');
    const json = (status: number, body: unknown): ApiResponse => ({
      status,
      headers: { 'content-type': 'application/json' },
      text: body === undefined ? '' : JSON.stringify(body),
    });
    try {
      const path = decodeURIComponent(url.pathname);
      const candidates = this.#routes.filter((r) => r.pattern.test(path));
      const route = candidates.find((r) => r.method === method);
      if (!route) {
        if (candidates.length > 0) throw new AgentError('API_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`, `use ${candidates.map((c) => c.method).join(', ')}`, 405);
        throw new AgentError('API_NOT_FOUND', `no API route ${method} ${path}`, 'see packages/api/openapi.yaml', 404);
      }
      const m = route.pattern.exec(path);
      const params: Record<string, string> = {};
      route.names.forEach((n, i) => (params[n] = m?.[i + 1] ?? ''));
      const raw = await readRaw();
      const body = route.raw ? undefined : parseJson(raw);
      const out = await route.handler({ params, query: url.searchParams, body, headers, rawBody: route.raw ? raw : Buffer.alloc(0) });
      if ('text' in out) return { status: out.status, headers: { ...(out.headers ?? {}), 'content-type': out.contentType ?? 'text/plain; charset=utf-8' }, text: out.text };
      return json(out.status, out.body);
    } catch (e) {
      if (e instanceof AgentError) {
        if (e.status >= 500) this.log.error({ code: e.code, err: e.message }, 'API request failed');
        return json(e.status, { code: e.code, message: e.message, hint: e.hint });
      }
      const err = e as { code?: unknown; message?: string; hint?: unknown; errno?: unknown };
      this.log.error({ err: err.message, code: err.code }, 'API request failed');
      return json(500, { code: typeof err.code === 'string' ? err.code : 'INTERNAL', message: err.message ?? String(e), hint: typeof err.hint === 'string' ? err.hint : 'see the agent log' });
    }
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    const b = c as Buffer;
    size += b.length;
    if (size > MAX_BODY) throw new AgentError('API_BODY_TOO_LARGE', 'request body exceeds 1 MiB', 'send a smaller document', 413);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new AgentError('API_BAD_JSON', `request body is not JSON: ${e instanceof Error ? e.message : String(e)}`, 'send application/json', 400);
  }
}
