/**
 * Kubernetes API access for the lab kubelet: @kubernetes/client-node's KubeConfig (credentials, TLS) and
 * Watch (streaming watch), plus a small JSON request helper for the calls whose patch types and
 * subresources we need exactly (pods/status, token requests, leases). Lists and watches use the
 * resourceVersion protocol: list, watch from the list's resourceVersion, resume from the last seen one
 * after a dropped stream, re-list on 410 Gone. Never polls.
 */
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { KubeletError } from './kubelet-error.js';

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    resourceVersion?: string;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    [k: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [k: string]: unknown;
}

export class KubeApi {
  readonly kc: KubeConfig;
  readonly server: URL;

  constructor(kubeconfigPath: string) {
    this.kc = new KubeConfig();
    this.kc.loadFromFile(kubeconfigPath);
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new KubeletError('KUBECONFIG_INVALID', `${kubeconfigPath} has no current cluster`, 'set current-context in the kubeconfig');
    this.server = new URL(cluster.server);
  }

  /** The cluster CA (PEM) from the kubeconfig, if any. */
  caPem(): string | undefined {
    const c = this.kc.getCurrentCluster();
    if (c?.caData) return Buffer.from(c.caData, 'base64').toString();
    if (c?.caFile) return readFileSync(c.caFile, 'utf8');
    return undefined;
  }

  async request<T = Record<string, unknown>>(method: string, path: string, body?: unknown, contentType = 'application/json', timeoutMs = 30_000): Promise<ApiResponse<T>> {
    const url = new URL(path, this.server);
    const opts: RequestOptions = { method, headers: { accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(opts);
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers = (opts.headers ?? {}) as Record<string, string | number>;
    if (data) {
      headers['content-type'] = contentType;
      headers['content-length'] = data.length;
    }
    opts.headers = headers;
    const req = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return await new Promise<ApiResponse<T>>((resolve, reject) => {
      const r = req(url, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown = {};
          try {
            parsed = text === '' ? {} : JSON.parse(text);
          } catch {
            parsed = { message: text };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as T });
        });
        res.on('error', reject);
      });
      r.setTimeout(timeoutMs, () => r.destroy(new KubeletError('API_TIMEOUT', `${method} ${path}: no answer in ${timeoutMs} ms`, `is the apiserver at ${this.server.origin} up?`)));
      r.on('error', reject);
      if (data) r.write(data);
      r.end();
    });
  }

  /** Like request, but throws a KubeletError for any status outside `ok` (default 2xx). */
  async call<T = Record<string, unknown>>(method: string, path: string, body?: unknown, contentType?: string, ok: (s: number) => boolean = (s) => s >= 200 && s < 300): Promise<ApiResponse<T>> {
    const r = await this.request<T>(method, path, body, contentType);
    if (!ok(r.status)) {
      const msg = (r.body as { message?: string }).message ?? JSON.stringify(r.body).slice(0, 300);
      throw new KubeletError('API_ERROR', `${method} ${path}: ${r.status} ${msg}`, 'check the kubelet credentials (RBAC) and the apiserver log', { cause: r.body });
    }
    return r;
  }
}

export interface ListWatchHandlers<T extends KubeObject> {
  /** The full set after a (re-)list: replace everything known. */
  onList(items: T[]): void;
  onEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T): void;
  onError?(err: unknown): void;
}

/**
 * Keeps a list+watch of `path` (a collection path such as /api/v1/pods) going until `signal` aborts.
 * Resumes from the last resourceVersion after a dropped stream; re-lists on 410 Gone (or an expired
 * resourceVersion); backs off 1 s .. 30 s after errors.
 */
export async function listWatch<T extends KubeObject>(api: KubeApi, path: string, query: Record<string, string>, h: ListWatchHandlers<T>, signal: AbortSignal): Promise<void> {
  const watch = new Watch(api.kc);
  let rv: string | undefined;
  let backoff = 1000;
  const sleep = (ms: number) => new Promise<void>((r) => {
    const t = setTimeout(r, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); r(); }, { once: true });
  });
  while (!signal.aborted) {
    try {
      if (rv === undefined) {
        const qs = new URLSearchParams(query).toString();
        const r = await api.call<{ metadata: { resourceVersion: string }; items: T[] }>('GET', `${path}?${qs}`);
        rv = r.body.metadata.resourceVersion;
        h.onList(r.body.items);
        backoff = 1000;
      }
      const started = Date.now();
      const outcome = await new Promise<'gone' | 'closed' | { err: unknown }>((resolve) => {
        let gone = false;
        let ctl: AbortController | undefined;
        const onAbort = () => ctl?.abort();
        signal.addEventListener('abort', onAbort, { once: true });
        watch
          .watch(path, { ...query, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 240 }, (type, obj: T & { code?: number }) => {
            if (type === 'ERROR') {
              if (obj.code === 410) gone = true;
              return;
            }
            const nrv = obj.metadata?.resourceVersion;
            if (nrv) rv = nrv;
            if (type === 'BOOKMARK') return;
            if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') h.onEvent(type, obj);
          }, (err: unknown) => {
            signal.removeEventListener('abort', onAbort);
            if (gone) resolve('gone');
            else if (err && !signal.aborted) resolve({ err });
            else resolve('closed');
          })
          .then((c) => {
            ctl = c;
            if (signal.aborted) c.abort();
          })
          .catch((err: unknown) => resolve({ err }));
      });
      if (outcome === 'gone') {
        rv = undefined;
        continue;
      }
      if (outcome !== 'closed') {
        const err = outcome.err as { statusCode?: number };
        if (err.statusCode === 410) rv = undefined;
        h.onError?.(outcome.err);
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 30_000);
      } else if (Date.now() - started < 1000) {
        // A stream that ends at once (an apiserver shutting down): do not spin.
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 30_000);
      } else {
        backoff = 1000;
      }
    } catch (err) {
      h.onError?.(err);
      rv = undefined;
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 30_000);
    }
  }
}
