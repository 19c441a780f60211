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
