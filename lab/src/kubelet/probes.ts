/**
 * Probes (httpGet, tcpSocket, exec) run where the container's network is: httpGet with curl and
 * tcpSocket with bash's /dev/tcp inside the pod netns (nsenter --net), exec inside the container's
 * network and mount namespaces (nsenter --target PID --net --mount) with the container's environment.
 */
import { spawn } from 'node:child_process';

export interface Probe {
  httpGet?: { path?: string; port: number | string; host?: string; scheme?: string; httpHeaders?: Array<{ name: string; value: string }> };
  tcpSocket?: { port: number | string; host?: string };
  exec?: { command?: string[] };
  grpc?: { port: number };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

export interface ProbeTarget {
  /** Pod netns path; undefined for hostNetwork pods (the kubelet's own netns). */
  netnsPath: string | undefined;
  podIP: string;
  /** The container's main pid (exec probes). */
  pid: number;
  env: Record<string, string>;
  ports: Array<{ name?: string; containerPort: number }>;
}

export interface ProbeResult {
  ok: boolean;
  output: string;
}

export function resolvePort(port: number | string, ports: Array<{ name?: string; containerPort: number }>): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return ports.find((p) => p.name === port)?.containerPort;
}

/** The argv that runs the probe once (pure; exported for tests). */
export function probeArgv(p: Probe, t: ProbeTarget): string[] | string {
  const timeout = Math.max(1, p.timeoutSeconds ?? 1);
  const ns = t.netnsPath ? ['nsenter', `--net=${t.netnsPath}`, '--'] : [];
  if (p.httpGet) {
    const port = resolvePort(p.httpGet.port, t.ports);
    if (port === undefined) return `port ${String(p.httpGet.port)} not found in the container's ports`;
    const host = p.httpGet.host ?? t.podIP;
    const h = host.includes(':') ? `[${host}]` : host;
    const scheme = (p.httpGet.scheme ?? 'HTTP').toLowerCase();
    const path = p.httpGet.path ?? '/';
    const headers = (p.httpGet.httpHeaders ?? []).flatMap((x) => ['-H', `${x.name}: ${x.value}`]);
    return [...ns, 'curl', '-sS', '-k', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', String(timeout), '-H', 'User-Agent: kube-probe/1.36', ...headers, `${scheme}://${h}:${port}${path.startsWith('/') ? path : `/${path}`}`];
  }
  if (p.tcpSocket) {
    const port = resolvePort(p.tcpSocket.port, t.ports);
    if (port === undefined) return `port ${String(p.tcpSocket.port)} not found in the container's ports`;
    const host = p.tcpSocket.host ?? t.podIP;
    return [...ns, 'timeout', String(timeout), 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`];
  }
  if (p.exec) {
    const cmd = p.exec.command ?? [];
    if (cmd.length === 0) return 'exec probe without a command';
    return ['timeout', String(timeout), 'nsenter', `--target=${t.pid}`, '--net', '--mount', '--', ...cmd];
  }
  if (p.grpc) return 'grpc probes are not supported by the lab kubelet';
  return 'probe has no handler';
}

export function runProbe(p: Probe, t: ProbeTarget): Promise<ProbeResult> {
  const argv = probeArgv(p, t);
  if (typeof argv === 'string') return Promise.resolve({ ok: false, output: argv });
  return new Promise((resolve) => {
    const env = p.exec ? t.env : { PATH: t.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
    const c = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const hard = setTimeout(() => c.kill('SIGKILL'), ((p.timeoutSeconds ?? 1) + 5) * 1000);
    c.on('error', (e) => {
      clearTimeout(hard);
      resolve({ ok: false, output: String(e) });
    });
    c.on('close', (code) => {
      clearTimeout(hard);
      if (p.httpGet) {
        const status = Number(out.trim().slice(-3));
        resolve({ ok: code === 0 && status >= 200 && status < 400, output: code === 0 ? `HTTP probe failed with statuscode: ${status}` : out.trim().replace(/\s*000$/, '') });
      } else {
        resolve({ ok: code === 0, output: out.trim().slice(-500) || `exit code ${code}` });
      }
    });
  });
}
