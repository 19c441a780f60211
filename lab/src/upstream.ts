// Where the upstream binaries are: --upstream-bin / $CILIUM_LAB_UPSTREAM_BIN, else the last stdout line of
// lab/build-upstream.sh (which builds them on the first run and answers from its cache afterwards).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabError } from './lab-error.js';

export const REQUIRED_BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'coredns'] as const;

/** The repository root: the nearest parent directory whose package.json is named "cilium-ts". */
export function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const p = join(d, 'package.json');
    if (existsSync(p)) {
      try {
        if ((JSON.parse(readFileSync(p, 'utf8')) as { name?: string }).name === 'cilium-ts') return d;
      } catch {
        // keep looking
      }
    }
    const up = dirname(d);
    if (up === d) throw new LabError('LAB_REPO', 'cannot find the cilium-ts repository root', 'run bin/cilium-lab from a checkout');
    d = up;
  }
}

export function checkUpstreamBin(dir: string): string {
  for (const b of REQUIRED_BINARIES) {
    try {
      accessSync(join(dir, b), constants.X_OK);
    } catch {
      throw new LabError('LAB_UPSTREAM_MISSING', `${join(dir, b)} is missing or not executable`, 'build the upstream binaries: lab/build-upstream.sh');
    }
  }
  return dir;
}

export function findUpstreamBin(explicit: string | undefined, root: string): string {
  const given = explicit ?? process.env.CILIUM_LAB_UPSTREAM_BIN;
  if (given !== undefined && given !== '') return checkUpstreamBin(given);
  const script = join(root, 'lab', 'build-upstream.sh');
  if (!existsSync(script)) {
    throw new LabError('LAB_UPSTREAM_MISSING', `${script} does not exist`, 'pass --upstream-bin DIR (kube-apiserver, etcd, ... inside)');
  }
  // stderr goes to ours: a cold build prints its progress (30-45 min on 2 cores).
  const r = spawnSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 << 20 });
  if (r.error || r.status !== 0) {
    throw new LabError('LAB_UPSTREAM_BUILD', `lab/build-upstream.sh failed (exit ${r.status ?? r.error?.message})`, 'read its output above');
  }
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return checkUpstreamBin(last.trim());
}
