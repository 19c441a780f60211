// A small Kubernetes API client for the benchmarks: HTTPS with the client certificate of a kubeconfig
// (read with `kubectl config view --raw`), keep-alive connections, and a bounded-concurrency bulk runner.
import { execFileSync } from 'node:child_process';
import { Agent, request } from 'node:https';
import { BenchError } from './common.mjs';

export class Kube {
  /** @param kubeconfig path; @param kubectl path of kubectl (reads the kubeconfig); @param maxSockets parallel connections */
  constructor(kubeconfig, kubectl, maxSockets = 32) {
    const cfg = JSON.parse(execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'config', 'view', '--raw', '-o', 'json'], { encoding: 'utf8' }));
    const ctxName = cfg['current-context'];
    const ctx = cfg.contexts.find((c) => c.name === ctxName)?.context ?? cfg.contexts[0]?.context;
    const cluster = cfg.clusters.find((c) => c.name === ctx.cluster)?.cluster;
    const user = cfg.users.find((u) => u.name === ctx.user)?.user;
    if (!cluster || !user) throw new BenchError('BENCH_KUBECONFIG', `kubeconfig ${kubeconfig}: no cluster/user for context ${ctxName}`);
    const b64 = (s) => Buffer.from(s, 'base64');
    this.url = new URL(cluster.server);
    this.agent = new Agent({
      keepAlive: true,
      maxSockets,
      ca: b64(cluster['certificate-authority-data']),
      cert: b64(user['client-certificate-data']),
      key: b64(user['client-key-data']),
    });
  }

  /** One request; resolves {status, body (parsed JSON when possible)}; rejects only on transport errors. */
  req(method, path, body, contentType = 'application/json') {
    return new Promise((res, rej) => {
      const data = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      const r = request(
        {
          host: this.url.hostname,
          port: this.url.port,
          path,
          method,
          agent: this.agent,
          headers: { accept: 'application/json', ...(data ? { 'content-type': contentType, 'content-length': data.length } : {}) },
          timeout: 60_000,
        },
        (resp) => {
          const chunks = [];
          resp.on('data', (c) => chunks.push(c));
          resp.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed = text;
            try {
              parsed = JSON.parse(text);
            } catch {}
            res({ status: resp.statusCode ?? 0, body: parsed });
          });
        },
      );
      r.on('timeout', () => r.destroy(new Error(`${method} ${path}: timeout`)));
      r.on('error', rej);
      if (data) r.write(data);
      r.end();
    });
  }

  /** Like req, but throws unless the status is 2xx (or listed in okStatus); retries 429/5xx/transport errors. */
  async must(method, path, body, { okStatus = [], contentType, retries = 8 } = {}) {
    for (let attempt = 0; ; attempt++) {
      let r;
      try {
        r = await this.req(method, path, body, contentType);
      } catch (e) {
        if (attempt < retries) {
          await new Promise((ok) => setTimeout(ok, 100 * 2 ** attempt));
          continue;
        }
        throw new BenchError('BENCH_KUBE_TRANSPORT', `${method} ${path}: ${e instanceof Error ? e.message : String(e)}`);
      }
      if ((r.status >= 200 && r.status < 300) || okStatus.includes(r.status)) return r;
      if ((r.status === 429 || r.status >= 500) && attempt < retries) {
        await new Promise((ok) => setTimeout(ok, 100 * 2 ** attempt));
        continue;
      }
      const msg = typeof r.body === 'object' && r.body ? r.body.message : String(r.body).slice(0, 300);
      throw new BenchError('BENCH_KUBE_STATUS', `${method} ${path}: HTTP ${r.status}: ${msg}`);
    }
  }

  /**
   * Watches `path` (a collection) from now on and records when each event arrives here, keyed
   * "<TYPE> <name>" (ADDED / MODIFIED / DELETED; the first such event) and "rv <resourceVersion>": the moment the apiserver delivered the change to its
   * watchers, the same moment a proxy's informer could see it at the earliest. Returns {arrival(key) ->
   * hrtime bigint | undefined, waitFor(key, ms), stop()}. Its own connection (not the keep-alive pool).
   */
  async observe(path) {
    const list = await this.must('GET', `${path}?limit=1`); // only for the collection's resourceVersion
    const rv = list.body?.metadata?.resourceVersion ?? '';
    const seen = new Map();
    const waiters = new Map();
    let stopped = false;
    let r;
    const open = (from) => {
      r = request({
        host: this.url.hostname, port: this.url.port, method: 'GET',
        path: `${path}?watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(from)}`,
        ca: this.agent.options.ca, cert: this.agent.options.cert, key: this.agent.options.key, agent: false,
        headers: { accept: 'application/json' },
      }, (resp) => {
        let buf = '';
        let last = from;
        resp.on('data', (c) => {
          const now = process.hrtime.bigint();
          buf += c;
          for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
            const line = buf.slice(0, i).trim();
            buf = buf.slice(i + 1);
            if (!line) continue;
            const ev = JSON.parse(line);
            last = ev.object?.metadata?.resourceVersion ?? last;
            if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') continue;
            for (const key of [`${ev.type} ${ev.object?.metadata?.name}`, `rv ${ev.object?.metadata?.resourceVersion}`]) {
              if (!seen.has(key)) seen.set(key, now);
              waiters.get(key)?.(now);
            }
          }
        });
        resp.on('end', () => { if (!stopped) open(last); });
        resp.on('error', () => {});
      });
      r.on('error', () => { if (!stopped) setTimeout(() => open(from), 200); });
      r.end();
    };
    open(rv);
    return {
      arrival: (key) => seen.get(key),
      /** Resolves with the arrival time of `key` (waits up to ms for it; undefined if it never came). */
      waitFor: (key, ms) => seen.has(key) ? Promise.resolve(seen.get(key)) : new Promise((ok) => {
        const t = setTimeout(() => { waiters.delete(key); ok(undefined); }, ms);
        waiters.set(key, (at) => { clearTimeout(t); waiters.delete(key); ok(at); });
      }),
      stop: () => { stopped = true; r?.destroy(); },
    };
  }

  close() {
    this.agent.destroy();
  }
}

/** Runs fn(i) for i in [from, to) with at most `concurrency` in flight; calls progress(done) now and then. */
export async function bulk(from, to, concurrency, fn, progress) {
  let next = from;
  let done = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= to) return;
      await fn(i);
      done++;
      if (progress && done % 1000 === 0) progress(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(0, to - from)) }, worker));
}
