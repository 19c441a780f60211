// GET /healthz on 127.0.0.1:<agent-health-port> (plain HTTP, in the agent's network namespace): what the chart's
// startup/liveness/readiness probes call (with header `brief: true`). 200 with a short JSON status when the
// daemon is started and, in Kubernetes mode, its caches are synced; 503 with the reason otherwise.
import http from 'node:http';
import { AgentError } from '../errors.js';

export interface HealthState {
  ok: boolean;
  /** Short reason / summary. */
  msg: string;
  /** Extra detail for non-brief requests. */
  detail?: Record<string, unknown>;
}

export class HealthServer {
  readonly #server: http.Server;
  #port = 0;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly state: () => HealthState,
  ) {
    this.#server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.method !== 'GET' || url.pathname !== '/healthz') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'NOT_FOUND', message: `${req.method} ${url.pathname}: only GET /healthz here` }));
        return;
      }
      let st: HealthState;
      try {
        st = this.state();
      } catch (e) {
        st = { ok: false, msg: e instanceof Error ? e.message : String(e) };
      }
      const brief = String(req.headers['brief'] ?? '').toLowerCase() === 'true';
      const body = { state: st.ok ? 'Ok' : 'Failure', msg: st.msg, ...(!brief && st.detail ? st.detail : {}) };
      res.writeHead(st.ok ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
    });
  }

  get boundPort(): number {
    return this.#port;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        reject(new AgentError('AGENT_HEALTH_LISTEN', `cannot serve /healthz on ${this.host}:${this.port}: ${e.message}`, 'another agent (or process) uses the port: set agent-health-port / --agent-health-port', 500, typeof e.errno === 'number' ? Math.abs(e.errno) : undefined));
      };
      this.#server.once('error', onError);
      this.#server.listen(this.port, this.host, () => {
        this.#server.off('error', onError);
        const a = this.#server.address();
        this.#port = typeof a === 'object' && a ? a.port : this.port;
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    if (!this.#server.listening) return;
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
