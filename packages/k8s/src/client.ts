// A thin typed REST client over @kubernetes/client-node's KubeConfig (which resolves the cluster, TLS and
// credentials: kubeconfig files, in-cluster service accounts, exec/token auth). Requests go through
// node:https/http with the options KubeConfig.applyToHTTPSOptions fills in, so list, watch (a streamed
// response of JSON lines) and the patch flavours are all plain, explicit calls.
import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { resourcePath, type ResourceType } from './resources.js';
import type { KubeObject } from './types.js';

/** An error from the apiserver (status >= 400) or from the transport, with a stable code and a hint. */
export class KubeApiError extends Error {
  readonly code: string;
  readonly hint: string;
  /** HTTP status (0 for transport errors). */
  readonly status: number;
  /** metav1.Status reason (NotFound, AlreadyExists, Conflict, Invalid, Expired, Gone...). */
  readonly reason: string;
  readonly errno: string | undefined;
  constructor(message: string, opts: { status: number; reason?: string; code?: string; hint?: string; errno?: string }) {
    super(message);
    this.name = 'KubeApiError';
    this.status = opts.status;
    this.reason = opts.reason ?? '';
    this.code = opts.code ?? (opts.status === 0 ? 'EKUBECONN' : `EKUBE${opts.status}`);
    this.hint = opts.hint ?? hintFor(opts.status);
    this.errno = opts.errno;
  }
}

function hintFor(status: number): string {
  switch (status) {
    case 0: return 'is the apiserver running and reachable at the kubeconfig server address?';
    case 401: return 'the credentials in the kubeconfig were rejected';
    case 403: return 'the identity lacks RBAC permission for this verb/resource';
    case 404: return 'the object (or its CRD) does not exist';
    case 409: return 'conflict: re-read the object and retry';
    case 410: return 'resourceVersion too old: re-list';
    case 422: return 'the object failed validation; see the message';
    default: return 'see the apiserver message';
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof KubeApiError && e.status === 404;
export const isConflict = (e: unknown): boolean => e instanceof KubeApiError && e.status === 409;
export const isAlreadyExists = (e: unknown): boolean => e instanceof KubeApiError && e.status === 409 && e.reason === 'AlreadyExists';

/**
 * Loads a kubeconfig: an explicit path, else $KUBECONFIG, else in-cluster (KUBERNETES_SERVICE_HOST/PORT and
 * /var/run/secrets/kubernetes.io/serviceaccount), else ~/.kube/config.
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  const file = path ?? process.env['KUBECONFIG'];
  if (file) {
    if (!existsSync(file)) {
      throw Object.assign(new Error(`kubeconfig ${file} does not exist`), { code: 'EKUBECONFIG', hint: path ? 'pass --kubeconfig with an existing file' : 'fix or unset KUBECONFIG' });
    }
    try {
      kc.loadFromFile(file);
    } catch (e) {
      throw Object.assign(new Error(`kubeconfig ${file} could not be loaded: ${(e as Error).message}`), { code: 'EKUBECONFIG', hint: 'check that the file is a valid kubeconfig (clusters, users, contexts, current-context)' });
    }
  } else if (process.env['KUBERNETES_SERVICE_HOST'] && process.env['KUBERNETES_SERVICE_PORT']) {
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
    if (!existsSync(`${sa}/token`)) {
      throw Object.assign(new Error(`in-cluster config: ${sa}/token is missing`), { code: 'EKUBECONFIG', hint: 'mount the service account token (automountServiceAccountToken) or pass --kubeconfig' });
    }
    kc.loadFromCluster();
  } else {
    kc.loadFromDefault();
  }
  if (!kc.getCurrentCluster()?.server) {
    throw Object.assign(new Error('no cluster in the kubeconfig'), { code: 'EKUBECONFIG', hint: 'set --kubeconfig, KUBECONFIG or run in-cluster' });
  }
  return kc;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  /** The continue token of the previous page (with limit). */
  continue?: string;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
  /** Set when more pages follow (the request had a limit). */
  continue?: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
export interface WatchEvent<T> {
  type: WatchEventType;
  object: T;
}

export interface WatchOptions extends ListOptions {
  resourceVersion?: string;
  timeoutSeconds?: number;
  allowWatchBookmarks?: boolean;
  signal?: AbortSignal;
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
  /** Per-request timeout in ms (default 30 s; watches have none). */
  timeoutMs?: number;
}

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';
const PATCH_CONTENT: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

export class KubeClient {
  readonly kubeConfig: KubeConfig;
  readonly server: URL;
  /** One keep-alive agent per client (client-node makes a new agent, so a new TLS handshake, per call). */
  readonly #agent: http.Agent | undefined;

  constructor(kc: KubeConfig) {
    this.kubeConfig = kc;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new KubeApiError('no current cluster in kubeconfig', { status: 0, code: 'EKUBECONFIG', hint: 'set a current-context' });
    this.server = new URL(cluster.server);
    // A proxy-url cluster keeps client-node's proxy agent.
    this.#agent = cluster.proxyUrl ? undefined : this.server.protocol === 'http:' ? new http.Agent({ keepAlive: true }) : new https.Agent({ keepAlive: true });
  }

  /** Closes idle keep-alive connections (call when done with the client). */
  close(): void {
    this.#agent?.destroy();
  }

  static fromKubeConfig(path?: string): KubeClient {
    return new KubeClient(loadKubeConfig(path));
  }

  async #options(method: string, path: string, query: RequestOptions['query'], headers: Record<string, string>): Promise<https.RequestOptions> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) q.set(k, String(v));
    const qs = q.toString();
    const opts: https.RequestOptions = {
      method,
      protocol: this.server.protocol,
      hostname: this.server.hostname.replace(/^\[|\]$/g, ''),
      port: this.server.port || (this.server.protocol === 'https:' ? 443 : 80),
      path: `${this.server.pathname.replace(/\/$/, '')}${path}${qs ? `?${qs}` : ''}`,
      headers: { Accept: 'application/json', ...headers },
    };
    await this.kubeConfig.applyToHTTPSOptions(opts);
    if (this.#agent) opts.agent = this.#agent;
    return opts;
  }

  #send(opts: https.RequestOptions, body: string | undefined, signal?: AbortSignal, timeoutMs?: number): Promise<http.IncomingMessage> {
    const mod = opts.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = mod.request({ ...opts, ...(signal ? { signal } : {}) }, resolve);
      if (timeoutMs) req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
      req.on('error', (e: NodeJS.ErrnoException) =>
        reject(new KubeApiError(`${opts.method} ${opts.path}: ${e.message}`, { status: 0, ...(e.code ? { errno: e.code } : {}) })),
      );
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  /** One request; JSON in, JSON out; status >= 400 -> KubeApiError with the apiserver's message. */
  async request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const body = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
    const headers: Record<string, string> = body !== undefined ? { 'Content-Type': o.contentType ?? 'application/json' } : {};
    const opts = await this.#options(method, path, o.query, headers);
    const res = await this.#send(opts, body, o.signal, o.timeoutMs ?? 30_000);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const status = res.statusCode ?? 0;
    if (status >= 400) throw statusError(method, path, status, text);
    if (!text) return undefined as T;
    return (/json/.test(String(res.headers['content-type'] ?? '')) ? JSON.parse(text) : text) as T;
  }

  list<T>(r: ResourceType, o: ListOptions = {}): Promise<ListResult<T>> {
    return this.request<{ items: T[] | null; metadata: { resourceVersion: string; continue?: string } }>('GET', resourcePath(r, o.namespace), {
      query: { labelSelector: o.labelSelector, fieldSelector: o.fieldSelector, limit: o.limit, continue: o.continue },
    }).then((l) => ({ items: l.items ?? [], resourceVersion: l.metadata.resourceVersion, ...(l.metadata.continue ? { continue: l.metadata.continue } : {}) }));
  }

  get<T>(r: ResourceType, name: string, namespace?: string): Promise<T> {
    return this.request<T>('GET', resourcePath(r, namespace, name));
  }

  /** get, or undefined on 404. */
  async tryGet<T>(r: ResourceType, name: string, namespace?: string): Promise<T | undefined> {
    try {
      return await this.get<T>(r, name, namespace);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  create<T extends KubeObject>(r: ResourceType, obj: T, namespace?: string): Promise<T> {
    return this.request<T>('POST', resourcePath(r, namespace ?? obj.metadata?.namespace), { body: withTypeMeta(r, obj) });
  }

  /** PUT (optimistic concurrency through metadata.resourceVersion). */
  update<T extends KubeObject>(r: ResourceType, obj: T, subresource?: string): Promise<T> {
    const name = obj.metadata?.name ?? '';
    return this.request<T>('PUT', resourcePath(r, obj.metadata?.namespace, name, subresource), { body: withTypeMeta(r, obj) });
  }

  patch<T>(r: ResourceType, name: string, patch: unknown, o: { namespace?: string; type?: PatchType; subresource?: string; fieldManager?: string; force?: boolean } = {}): Promise<T> {
    const type = o.type ?? 'merge';
    return this.request<T>('PATCH', resourcePath(r, o.namespace, name, o.subresource), {
      body: patch,
      contentType: PATCH_CONTENT[type],
      query: { fieldManager: o.fieldManager ?? (type === 'apply' ? 'cilium-ts' : undefined), force: o.force },
    });
  }

  async delete(r: ResourceType, name: string, namespace?: string, o: { uid?: string } = {}): Promise<boolean> {
    try {
      await this.request('DELETE', resourcePath(r, namespace, name), o.uid ? { body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: o.uid } } } : {});
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /**
   * A watch: calls onEvent for each event until the server ends the stream (resolves), the signal aborts
   * (resolves), or a transport/HTTP error (rejects; a 410 Gone rejects with status 410).
   */
  async watch<T>(r: ResourceType, o: WatchOptions, onEvent: (e: WatchEvent<T>) => void): Promise<void> {
    const opts = await this.#options('GET', resourcePath(r, o.namespace), {
      watch: 1,
      resourceVersion: o.resourceVersion,
      allowWatchBookmarks: o.allowWatchBookmarks ?? true,
      timeoutSeconds: o.timeoutSeconds,
      labelSelector: o.labelSelector,
      fieldSelector: o.fieldSelector,
    }, {});
    let res: http.IncomingMessage;
    try {
      res = await this.#send(opts, undefined, o.signal);
    } catch (e) {
      if (o.signal?.aborted) return;
      throw e;
    }
    const status = res.statusCode ?? 0;
    if (status >= 400) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      throw statusError('WATCH', opts.path ?? '', status, Buffer.concat(chunks).toString('utf8'));
    }
    let buf = '';
    try {
      for await (const chunk of res) {
        buf += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const ev = JSON.parse(line) as WatchEvent<T>;
          if (ev.type === 'ERROR') {
            const st = ev.object as { code?: number; reason?: string; message?: string };
            res.destroy();
            throw new KubeApiError(`watch ${r.plural}: ${st.message ?? 'error event'}`, { status: st.code ?? 500, reason: st.reason ?? '' });
          }
          onEvent(ev);
        }
      }
    } catch (e) {
      if (o.signal?.aborted) return;
      if (e instanceof KubeApiError) throw e;
      // A reset connection (apiserver restart) ends the watch like a server-side close: the caller resumes.
      if ((e as NodeJS.ErrnoException).code === 'ECONNRESET' || (e as Error).message === 'aborted') return;
      throw e;
    }
  }
}

function withTypeMeta<T extends KubeObject>(r: ResourceType, obj: T): T {
  return { apiVersion: r.group ? `${r.group}/${r.version}` : r.version, kind: r.kind, ...obj };
}

function statusError(method: string, path: string, status: number, text: string): KubeApiError {
  let message = text.slice(0, 2000);
  let reason = '';
  try {
    const st = JSON.parse(text) as { message?: string; reason?: string };
    message = st.message ?? message;
    reason = st.reason ?? '';
  } catch {
    // not a Status object
  }
  return new KubeApiError(`${method} ${path}: ${status} ${reason}: ${message}`, { status, reason });
}
