/**
 * Per-pod, per-container cgroups on this cgroup v1 hybrid machine: the v1 `pids`, `memory` and `cpu`
 * hierarchies get <mount>/<cgroupRoot>/<pod-uid>/<container>; the cgroup2 tree (/sys/fs/cgroup/unified)
 * gets the same, so cgroup BPF programs attached at <cgroupRoot> (socket LB) see every pod's sockets.
 * Limits from resources.limits (memory.limit_in_bytes, cpu.cfs_quota_us) and requests (cpu.shares).
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CGROUP_V1_ROOT = '/sys/fs/cgroup';
export const CGROUP_V1_HIERARCHIES = ['pids', 'memory', 'cpu'] as const;
export const CGROUP2_ROOT = '/sys/fs/cgroup/unified';

/** Directories of one container (or, with container undefined, of the pod). */
export function cgroupDirs(cgroupRoot: string, podUid: string, container?: string): string[] {
  const rel = join(cgroupRoot, podUid, container ?? '');
  const dirs = CGROUP_V1_HIERARCHIES.filter((h) => existsSync(join(CGROUP_V1_ROOT, h, 'cgroup.procs'))).map((h) => join(CGROUP_V1_ROOT, h, rel));
  if (existsSync(join(CGROUP2_ROOT, 'cgroup.procs'))) dirs.push(join(CGROUP2_ROOT, rel));
  return dirs;
}

/** Parses a Kubernetes quantity ("128Mi", "1G", "500m", "2") into a number of base units. */
export function parseQuantity(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const mult: Record<string, number> = {
    '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
    Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6,
  };
  const f = mult[m[2] ?? ''];
  return f === undefined ? undefined : n * f;
}

export interface ContainerResources {
  limits?: Record<string, string | number>;
  requests?: Record<string, string | number>;
}

/** The cgroup v1 files to write for the resources (relative to each hierarchy). */
export function cgroupLimitFiles(r: ContainerResources | undefined): Array<{ hierarchy: 'memory' | 'cpu'; file: string; value: string }> {
  const out: Array<{ hierarchy: 'memory' | 'cpu'; file: string; value: string }> = [];
  const mem = parseQuantity(r?.limits?.['memory']);
  if (mem !== undefined && mem > 0) out.push({ hierarchy: 'memory', file: 'memory.limit_in_bytes', value: String(Math.floor(mem)) });
  const cpu = parseQuantity(r?.limits?.['cpu']);
  if (cpu !== undefined && cpu > 0) {
    out.push({ hierarchy: 'cpu', file: 'cpu.cfs_period_us', value: '100000' });
    out.push({ hierarchy: 'cpu', file: 'cpu.cfs_quota_us', value: String(Math.max(1000, Math.round(cpu * 100_000))) });
  }
  const req = parseQuantity(r?.requests?.['cpu']) ?? cpu;
  if (req !== undefined && req > 0) out.push({ hierarchy: 'cpu', file: 'cpu.shares', value: String(Math.max(2, Math.round(req * 1024))) });
  return out;
}

/** Creates the container's cgroups (and the pod's) and applies limits; returns the dirs whose cgroup.procs to join. */
export function createContainerCgroups(cgroupRoot: string, podUid: string, container: string, r: ContainerResources | undefined): string[] {
  const dirs = cgroupDirs(cgroupRoot, podUid, container);
  for (const d of dirs) mkdirSync(d, { recursive: true });
  for (const l of cgroupLimitFiles(r)) {
    try {
      writeFileSync(join(CGROUP_V1_ROOT, l.hierarchy, cgroupRoot, podUid, container, l.file), l.value);
    } catch {
      // A limit the kernel refuses (e.g. below current usage) leaves the container unlimited.
    }
  }
  return dirs;
}

/** The pids in a container's cgroups (every hierarchy; a process may have left none of them). */
export function cgroupPids(cgroupRoot: string, podUid: string, container: string): number[] {
  const pids = new Set<number>();
  for (const d of cgroupDirs(cgroupRoot, podUid, container)) {
    try {
      for (const l of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (l.trim() !== '') pids.add(Number(l));
    } catch {
      // gone
    }
  }
  return [...pids];
}

/** Removes the container's cgroups (they must be empty); false if any is still busy. */
export function removeCgroups(cgroupRoot: string, podUid: string, container?: string): boolean {
  let ok = true;
  for (const d of cgroupDirs(cgroupRoot, podUid, container)) {
    try {
      rmdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') ok = false;
    }
  }
  return ok;
}
