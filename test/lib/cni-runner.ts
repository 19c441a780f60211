/**
 * Runs bin/cilium-cni exactly like a container runtime: CNI_* env vars, the plugin config on stdin,
 * the result (or error) read from stdout. Optionally inside a "node" network namespace (nsenter).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The native shim (apps/cni/shim): forwards to the agent, else execs CNI_NODE_BIN. */
export const CNI_BIN = join(REPO_ROOT, 'bin', 'cilium-cni');
/** The standalone Node plugin (bundle of apps/cni/src/main.ts). */
export const CNI_NODE_BIN = join(REPO_ROOT, 'bin', 'cilium-cni-node');

export interface CniRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as one JSON document (undefined if stdout is empty). */
  json: Record<string, unknown> | undefined;
}

export interface CniInvocation {
  command: 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC' | string;
  config: Record<string, unknown> | string;
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  /** Run inside this network namespace (path, e.g. /run/netns/node-x) via nsenter. */
  nodeNetns?: string;
  /** Extra or overriding env; a value of undefined removes the variable. */
  env?: Record<string, string | undefined>;
}

function buildEnv(inv: CniInvocation): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: inv.command, CNI_PATH: join(REPO_ROOT, 'bin') };
  if (inv.containerId !== undefined) env['CNI_CONTAINERID'] = inv.containerId;
  if (inv.netns !== undefined) env['CNI_NETNS'] = inv.netns;
  if (inv.ifname !== undefined) env['CNI_IFNAME'] = inv.ifname;
  if (inv.args !== undefined) env['CNI_ARGS'] = inv.args;
  for (const [k, v] of Object.entries(inv.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

function argv(inv: CniInvocation): [string, string[]] {
  return inv.nodeNetns ? ['nsenter', [`--net=${inv.nodeNetns}`, CNI_BIN]] : [CNI_BIN, []];
}

function finish(exitCode: number, stdout: string, stderr: string): CniRun {
  let json: Record<string, unknown> | undefined;
  if (stdout.trim() !== '') {
    try {
      json = JSON.parse(stdout) as Record<string, unknown>;
    } catch {
      throw new Error(`cilium-cni printed something that is not one JSON document on stdout:\n${stdout}\nstderr:\n${stderr}`);
    }
  }
  return { exitCode, stdout, stderr, json };
}

/** Runs the plugin and waits for it (async, so many can run in parallel). */
export function runCni(inv: CniInvocation): Promise<CniRun> {
  const [cmd, args] = argv(inv);
  const stdin = typeof inv.config === 'string' ? inv.config : JSON.stringify(inv.config);
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: buildEnv(inv), stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (c: Buffer) => out.push(c));
    p.stderr.on('data', (c: Buffer) => err.push(c));
    p.on('error', reject);
    p.on('close', (code, signal) => {
      try {
        resolve(finish(code ?? (signal ? 128 : 1), Buffer.concat(out).toString(), Buffer.concat(err).toString()));
      } catch (e) {
        reject(e);
      }
    });
    p.stdin.end(stdin);
  });
}

/** Synchronous variant for simple cases. */
export function runCniSync(inv: CniInvocation): CniRun {
  const [cmd, args] = argv(inv);
  const stdin = typeof inv.config === 'string' ? inv.config : JSON.stringify(inv.config);
  const r = spawnSync(cmd, args, { env: buildEnv(inv), input: stdin, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return finish(r.status ?? 1, r.stdout, r.stderr);
}

let built = false;
/**
 * Builds bin/ with scripts/build.mjs (as `make bin` does). Other bundles may be mid-edit by other
 * people and fail to build, which stops build.mjs before it finishes ours: then the plugin alone is
 * bundled with build.mjs's settings (esbuild, node20 ESM, koffi external, the same banner).
 */
export async function ensureCniBuilt(): Promise<void> {
  if (built) return;
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build.mjs')], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`note: scripts/build.mjs failed (another bundle?); bundling cilium-cni-node alone\n${r.stderr.slice(0, 2000)}\n`);
    const { build } = await import('esbuild');
    await build({
      entryPoints: [join(REPO_ROOT, 'apps/cni/src/main.ts')],
      outfile: CNI_NODE_BIN,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      external: ['koffi'],
      banner: {
        js: [
          '#!/usr/bin/env node',
          "import { createRequire as __cilium_createRequire } from 'node:module';",
          'const require = __cilium_createRequire(import.meta.url);',
        ].join('\n'),
      },
      logLevel: 'warning',
    });
    chmodSync(CNI_NODE_BIN, 0o755);
  }
  for (const b of [CNI_BIN, CNI_NODE_BIN]) if (!existsSync(b)) throw new Error(`${b} was not built`);
  built = true;
}
