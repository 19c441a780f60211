// A lab for the tests that install the chart: `cilium-lab up` with N nodes, the env `cilium-lab env` prints,
// kubectl/helm from the upstream bin dir, waits that print the agents' last log lines on timeout, and `down`.
// One instance per test file: `const c = new LabCluster('sv')`, then `await c.up(2)` in beforeAll and
// `c.down()` in afterAll.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { readState } from '../../src/state.js';

export const REPO = join(import.meta.dirname, '..', '..', '..');
const LAB_BIN = join(REPO, 'bin', 'cilium-lab');

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** A Kubernetes object as the tests read it. */
export interface Obj {
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    deletionTimestamp?: string;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ kind: string; name: string; uid: string }>;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export const isReady = (p: Obj | undefined): boolean =>
  ((p?.status?.['conditions'] as Array<{ type: string; status: string }> | undefined) ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

export class LabCluster {
  readonly name: string;
  upstreamBin = '';
  env: NodeJS.ProcessEnv = {};
  #up = false;
  #installed = false;

  /** prefix: two letters naming the test file; a random suffix makes the lab's name unique. */
  constructor(prefix: string) {
    this.name = `${prefix}${Math.random().toString(36).slice(2, 8).replace(/[0-9]/g, 'x')}`;
  }

  /** Builds bin/ and the upstream binaries (cached), brings the lab up and reads its env. */
  async up(nodes: number): Promise<void> {
    execFileSync(process.execPath, [join(REPO, 'scripts', 'build.mjs')], { stdio: 'inherit', cwd: REPO });
    const out = execFileSync('bash', [join(REPO, 'lab', 'build-upstream.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 3_600_000 });
    this.upstreamBin = out.trim().split('\n').pop() ?? '';
    const r = this.lab(['up', '--name', this.name, '--nodes', String(nodes)]);
    if (r.status !== 0) throw new Error(`cilium-lab up: ${r.stderr}\n${r.stdout}`);
    this.#up = true;
    const e = this.lab(['env', '--name', this.name]);
    this.env = { ...process.env };
    for (const m of e.stdout.matchAll(/^export (KUBECONFIG|LAB_[A-Z_]+)='([^']*)'$/gm)) this.env[m[1] ?? ''] = m[2] ?? '';
    if (!this.env['KUBECONFIG']) throw new Error(`cilium-lab env printed no KUBECONFIG:\n${e.stdout}`);
  }

  /** helm install cilium with values-lab.yaml, the lab's apiserver address and `--set` pairs. */
  helmInstall(sets: string[] = []): void {
    this.run(join(this.upstreamBin, 'helm'), [
      'install', 'cilium', join(REPO, 'install/kubernetes/cilium'), '-n', 'kube-system', '-f', join(REPO, 'install/kubernetes/values-lab.yaml'),
      '--set', `k8sServiceHost=${this.env['LAB_API_HOST']}`, '--set', `k8sServicePort=${this.env['LAB_API_PORT']}`,
      ...sets.flatMap((s) => ['--set', s]),
    ]);
    this.#installed = true;
  }

  helm(args: string[], o: { allowFail?: boolean } = {}): Run {
    if (args[0] === 'delete' && !o.allowFail) this.#installed = false;
    return this.run(join(this.upstreamBin, 'helm'), args, o);
  }

  /** helm delete (if installed) and cilium-lab down. */
  down(): void {
    if (this.#installed) this.run(join(this.upstreamBin, 'helm'), ['delete', 'cilium', '-n', 'kube-system'], { allowFail: true });
    if (this.#up) this.lab(['down', '--name', this.name]);
  }

  lab = (args: string[], timeoutMs = 900_000): Run => {
    const r = spawnSync(process.execPath, [LAB_BIN, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };

  /** `cilium-lab exec --name <lab> <target> -- argv`. */
  exec = (target: string, argv: string[], timeoutMs = 120_000): Run => this.lab(['exec', '--name', this.name, target, '--', ...argv], timeoutMs);

  /** A shell script in a lab target (node1, default/client1): `cilium-lab exec ... -- sh -c script`. */
  sh = (target: string, script: string, timeoutMs = 120_000): Run => this.exec(target, ['sh', '-c', script], timeoutMs);

  run = (cmd: string, args: string[], o: { allowFail?: boolean; timeoutMs?: number; input?: string } = {}): Run => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', env: this.env, timeout: o.timeoutMs ?? 300_000, maxBuffer: 64 << 20, cwd: REPO, ...(o.input !== undefined ? { input: o.input } : {}) });
    if (!o.allowFail && r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}\n${r.stdout}`);
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };

  kubectl = (...args: string[]): string => this.run(join(this.upstreamBin, 'kubectl'), args).stdout;
  apply = (obj: unknown): string => this.run(join(this.upstreamBin, 'kubectl'), ['apply', '-f', '-'], { input: JSON.stringify(obj) }).stdout;

  /** A Deployment in `default` whose pods spread evenly over the nodes (maxSkew 1 per hostname). */
  applySpreadDeployment = (name: string, replicas: number, labels: Record<string, string>, container: object): string =>
    this.apply({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'default' },
      spec: {
        replicas, selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            terminationGracePeriodSeconds: 2,
            topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: labels } }],
            containers: [container],
          },
        },
      },
    });
  getJson = <T = Obj>(...args: string[]): T => JSON.parse(this.kubectl('get', '-o', 'json', ...args)) as T;
  tryJson = <T = Obj>(...args: string[]): T | undefined => {
    const r = this.run(join(this.upstreamBin, 'kubectl'), ['get', '-o', 'json', ...args], { allowFail: true });
    return r.status === 0 ? (JSON.parse(r.stdout) as T) : undefined;
  };

  /** A node of the lab (name, underlay IP, state dir, netns). */
  node = (name: string): { name: string; ip: string; dir: string; netns: string } => {
    const n = readState(this.name)?.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name} in lab ${this.name}`);
    return n;
  };

  /** A node's netns as a path (for nsenter --net=). */
  netnsPath = (name: string): string => {
    const ns = this.node(name).netns;
    return ns.startsWith('/') ? ns : `/run/netns/${ns}`;
  };

  /** The last lines of kube-system containers' logs on every node (`pattern`: <pod-name-glob>). */
  logs = (pattern = 'cilium-*', lines = 12): string => {
    const out: string[] = [];
    for (const n of readState(this.name)?.nodes ?? []) {
      const r = spawnSync('bash', ['-c', `tail -n ${lines} ${n.dir}/logs/kube-system_${pattern}/*.log 2>/dev/null | cut -c1-400`], { encoding: 'utf8' });
      if (r.stdout.trim()) out.push(`--- ${n.name} ---\n${r.stdout}`);
    }
    return out.join('\n');
  };

  /** Polls fn every second until it returns something (not undefined/false); on timeout, the agents' logs. */
  waitFor = async <T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 240_000, logs = 'cilium-*'): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await fn();
        if (v !== undefined && v !== false) return v;
      } catch (e) {
        last = e;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}\n${this.logs(logs)}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  };

  /** The live pods matching selector when there are exactly `want` and all are Ready. */
  podsReady = (selector: string, want: number, ns = 'kube-system'): Obj[] | undefined => {
    const live = this.getJson<{ items: Obj[] }>('pods', '-n', ns, '-l', selector).items.filter((p) => p.metadata.deletionTimestamp === undefined);
    return live.length === want && live.every(isReady) ? live : undefined;
  };
}
