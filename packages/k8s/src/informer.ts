// A generic informer: list, then watch from the list's resourceVersion; resume the watch from the last seen
// resourceVersion when the server closes it (timeouts, apiserver restart); re-list on 410 Gone (or after
// errors with no usable resourceVersion) and diff the new list against the cache, so a re-list emits
// add/update/delete only for what actually changed (no duplicate adds for unchanged objects). Errors back
// off exponentially (0.5 s .. 30 s). The cache is keyed "namespace/name" (or "name" when cluster-scoped).
// Built on our KubeClient's list/watch instead of client-node's makeInformer, whose re-list after 410
// re-emits adds for every object.
import { KubeApiError, type KubeClient, type ListOptions } from './client.js';
import type { ResourceType } from './resources.js';
import type { KubeObject } from './types.js';

export interface InformerHandler<T> {
  onAdd?(obj: T): void;
  onUpdate?(obj: T, old: T): void;
  onDelete?(obj: T): void;
}

export interface InformerLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface InformerOptions extends ListOptions {
  /** Server-side watch timeout (the server closes the watch after it; we resume). Default 300 s. */
  watchTimeoutSeconds?: number;
  logger?: InformerLogger;
  /**
   * Objects per list page (default 500, as client-go's reflector): a large collection comes in pages of that
   * many, each a request of its own, instead of one response that must arrive within one request timeout.
   * 0: one unpaginated list.
   */
  pageSize?: number;
  /** Backoff bounds in ms (defaults 500 and 30000). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export function objectKey(o: KubeObject): string {
  const ns = o.metadata?.namespace;
  return ns ? `${ns}/${o.metadata?.name ?? ''}` : (o.metadata?.name ?? '');
}

export class Informer<T extends KubeObject> {
  readonly #client: KubeClient;
  readonly #resource: ResourceType;
  readonly #opts: InformerOptions;
  readonly #handlers: InformerHandler<T>[] = [];
  readonly #cache = new Map<string, T>();
  #resourceVersion = '';
  #abort = new AbortController();
  #running: Promise<void> | undefined;
  #resolveSynced!: () => void;
  #stopped = false;
  /** Counters, for tests and status: lists done (and their pages), watches started, 410s seen, errors. */
  readonly stats = { lists: 0, pages: 0, watches: 0, gone: 0, errors: 0 };
  /** Resolves after the first list has been delivered to the handlers. */
  readonly synced: Promise<void>;

  constructor(client: KubeClient, resource: ResourceType, opts: InformerOptions = {}) {
    this.#client = client;
    this.#resource = resource;
    this.#opts = opts;
    this.synced = new Promise((r) => (this.#resolveSynced = r));
  }

  /** Adds a handler; call before start() to see the initial adds. */
  on(h: InformerHandler<T>): this {
    this.#handlers.push(h);
    return this;
  }

  start(): this {
    if (!this.#running) this.#running = this.#run();
    return this;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    await this.#running;
  }

  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  #emit(kind: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    for (const h of this.#handlers) {
      try {
        if (kind === 'add') h.onAdd?.(obj);
        else if (kind === 'update') h.onUpdate?.(obj, old as T);
        else h.onDelete?.(obj);
      } catch (e) {
        this.#opts.logger?.warn({ err: e, resource: this.#resource.plural, key: objectKey(obj) }, 'informer handler threw');
      }
    }
  }

  /**
   * The whole collection, page by page (one consistent snapshot: later pages are served from the first page's
   * resourceVersion). If the continue token expires between pages (410), the list restarts unpaginated, as
   * client-go's pager does.
   */
  async #listAll(): Promise<{ items: T[]; resourceVersion: string }> {
    const limit = this.#opts.pageSize ?? 500;
    const { pageSize: _p, watchTimeoutSeconds: _w, logger: _l, minBackoffMs: _a, maxBackoffMs: _b, ...base } = this.#opts;
    if (limit <= 0) return this.#client.list<T>(this.#resource, base);
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      let page;
      try {
        page = await this.#client.list<T>(this.#resource, { ...base, limit, ...(cont ? { continue: cont } : {}) });
      } catch (e) {
        if (cont && e instanceof KubeApiError && e.status === 410) {
          this.#opts.logger?.debug({ resource: this.#resource.plural }, 'list: continue token expired (410), listing unpaginated');
          return this.#client.list<T>(this.#resource, base);
        }
        throw e;
      }
      for (const o of page.items) items.push(o);
      resourceVersion = page.resourceVersion;
      cont = page.continue;
      this.stats.pages++;
    } while (cont);
    return { items, resourceVersion };
  }

  async #relist(): Promise<void> {
    const { items, resourceVersion } = await this.#listAll();
    this.stats.lists++;
    const seen = new Set<string>();
    for (const o of items) {
      const k = objectKey(o);
      seen.add(k);
      const old = this.#cache.get(k);
      this.#cache.set(k, o);
      if (!old) this.#emit('add', o);
      else if (old.metadata?.resourceVersion !== o.metadata?.resourceVersion) this.#emit('update', o, old);
    }
    for (const [k, o] of [...this.#cache]) {
      if (!seen.has(k)) {
        this.#cache.delete(k);
        this.#emit('delete', o);
      }
    }
    this.#resourceVersion = resourceVersion;
  }

  #apply(type: string, o: T): void {
    const rv = o.metadata?.resourceVersion;
    if (rv) this.#resourceVersion = rv;
    if (type === 'BOOKMARK') return;
    const k = objectKey(o);
    const old = this.#cache.get(k);
    if (type === 'DELETED') {
      this.#cache.delete(k);
      this.#emit('delete', old ?? o);
      return;
    }
    this.#cache.set(k, o);
    if (!old) this.#emit('add', o);
    else if (old.metadata?.resourceVersion !== rv) this.#emit('update', o, old);
  }

  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.#abort.signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
    });
  }

  async #run(): Promise<void> {
    const minB = this.#opts.minBackoffMs ?? 500;
    const maxB = this.#opts.maxBackoffMs ?? 30_000;
    let backoff = minB;
    let needList = true;
    while (!this.#stopped) {
      try {
        if (needList) {
          await this.#relist();
          needList = false;
          this.#resolveSynced();
        }
        this.stats.watches++;
        let got = false;
        await this.#client.watch<T>(
          this.#resource,
          {
            ...this.#opts,
            resourceVersion: this.#resourceVersion,
            timeoutSeconds: this.#opts.watchTimeoutSeconds ?? 300,
            allowWatchBookmarks: true,
            signal: this.#abort.signal,
          },
          (ev) => {
            got = true;
            this.#apply(ev.type, ev.object);
          },
        );
        if (got) backoff = minB;
        // The server closed the watch: resume from the last resourceVersion (small pause if it was empty,
        // so a flapping server does not make us spin).
        if (!got && !this.#stopped) await this.#sleep(Math.min(backoff, 1000));
      } catch (e) {
        if (this.#stopped) break;
        this.stats.errors++;
        if (e instanceof KubeApiError && (e.status === 410 || e.reason === 'Expired' || e.reason === 'Gone')) {
          this.stats.gone++;
          needList = true;
          this.#opts.logger?.debug({ resource: this.#resource.plural }, 'watch: resourceVersion too old (410), re-listing');
          continue;
        }
        this.#opts.logger?.warn(
          { resource: this.#resource.plural, code: (e as KubeApiError).code, err: (e as Error).message, backoffMs: backoff },
          'list/watch failed; retrying',
        );
        await this.#sleep(backoff);
        backoff = Math.min(maxB, backoff * 2);
        if (!this.#resourceVersion) needList = true;
      }
    }
  }
}
