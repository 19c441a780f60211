// `cilium-lab down`: stops everything the lab started (by pid, checked against the recorded start time),
// everything still running inside the lab's netns or cgroups, unmounts what is mounted under its dir,
// deletes its netns (links go with them), removes its cgroups and /run/cilium-lab/<name>. Idempotent.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { listNetns } from '@cilium-ts/netlink';
import { removeHostPaths } from './host-paths.js';
import { releaseIndex } from './index-claim.js';
import { checkLabName, labDir } from './layout.js';
import { deleteNetnsList } from './network.js';
import { nsInode, pidsInCgroupTree, procStartTime, processesInNetns, stopProcess } from './processes.js';
import { readState, type LabState } from './state.js';

export interface DownOptions {
  name: string;
  log: (line: string) => void;
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/** Every cgroup directory the lab's kubelets may have made: <hierarchy>/cilium-lab/<name>. */
function labCgroupDirs(name: string): string[] {
  const out: string[] = [];
  let hier: string[] = [];
  try {
    hier = readdirSync(CGROUP_ROOT);
  } catch {
    return out;
  }
  for (const h of hier) {
    const d = join(CGROUP_ROOT, h, 'cilium-lab', name);
    if (existsSync(d)) out.push(d);
  }
  if (existsSync(join(CGROUP_ROOT, 'cgroup.procs'))) {
    const d = join(CGROUP_ROOT, 'cilium-lab', name);
    if (existsSync(d)) out.push(d);
  }
  return out;
}

/** The lab's netns: recorded ones plus any `<lab>-ul`, `<lab>-cp`, `<lab>-nodeN` and `<lab>-nodeN-...` (pods). */
function labNetns(name: string, s: LabState | undefined): string[] {
  const re = new RegExp(`^${name}-(ul|cp|node\\d+(-.+)?)$`);
  const all = new Set([...(s?.netns ?? []), ...listNetns().filter((n) => re.test(n))]);
  // Pods first, then nodes, the control plane, the underlay last.
  const rank = (n: string): number => (n.endsWith('-ul') ? 3 : n.endsWith('-cp') ? 2 : /-node\d+$/.test(n) ? 1 : 0);
  return [...all].sort((a, b) => rank(a) - rank(b));
}

function mountsUnder(dir: string): string[] {
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const mp = f[4];
    if (mp === undefined) continue;
    const p = unescape(mp);
    if (p === dir || p.startsWith(`${dir}/`)) out.push(p);
  }
  return out.sort((a, b) => b.length - a.length);
}

function killPids(pids: Array<{ pid: number; startTime: string }>, sig: NodeJS.Signals): void {
  for (const p of pids) {
    if (procStartTime(p.pid) !== p.startTime) continue;
    try {
      process.kill(p.pid, sig);
    } catch {
      // gone
    }
  }
}

async function sweep(find: () => Array<{ pid: number; startTime: string }>, what: string, log: (l: string) => void): Promise<void> {
  let left = find();
  if (left.length === 0) return;
  log(`  stopping ${left.length} process(es) ${what}`);
  killPids(left, 'SIGTERM');
  for (let i = 0; i < 50 && left.length > 0; i++) {
    await sleep(100);
    left = find();
  }
  for (let i = 0; i < 30 && left.length > 0; i++) {
    killPids(left, 'SIGKILL');
    await sleep(100);
    left = find();
  }
  if (left.length > 0) log(`  warning: ${left.length} process(es) ${what} did not exit: ${left.map((p) => p.pid).join(' ')}`);
}

function rmCgroupTree(dir: string): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return;
  }
  for (const e of entries) rmCgroupTree(join(dir, e));
  try {
    rmdirSync(dir);
  } catch {
    // busy or gone; reported by the caller's final check
  }
}

/** Tears the lab down. Returns false when there was nothing to remove. */
export async function down(o: DownOptions): Promise<boolean> {
  checkLabName(o.name);
  const dir = labDir(o.name);
  let s: LabState | undefined;
  try {
    s = readState(o.name);
  } catch (e) {
    o.log(`  ${(e as Error).message}: removing what can be found by name`);
  }
  const netns = labNetns(o.name, s);
  const cgroups = labCgroupDirs(o.name);
  if (s === undefined && !existsSync(dir) && netns.length === 0 && cgroups.length === 0) {
    releaseIndex(o.name);
    return false;
  }
  o.log(`lab ${o.name}: down`);
  const procs = s?.processes ?? [];
  // Kubelets first, with time to stop their pods; then the forwarder and the control plane, newest first.
  for (const p of procs.filter((x) => x.role.startsWith('kubelet-'))) await stopProcess(p, 15_000);
  const inodeOf = (names: string[]): Set<number> =>
    new Set(names.map((n) => nsInode(`/run/netns/${n}`)).filter((i): i is number => i !== undefined));
  const nodeInodes = inodeOf(netns.filter((n) => !n.endsWith('-cp') && !n.endsWith('-ul')));
  const inodes = inodeOf(netns);
  await sweep(() => processesInNetns(nodeInodes), 'left in the node and pod netns (pods, agents, execs)', o.log);
  await sweep(() => cgroups.flatMap((d) => pidsInCgroupTree(d)).map((pid) => ({ pid, startTime: procStartTime(pid) ?? '' })).filter((p) => p.startTime !== ''), 'left in the lab cgroups', o.log);
  for (const p of [...procs].reverse()) if (!p.role.startsWith('kubelet-')) await stopProcess(p, 10_000);
  // Anything else still in a lab netns (e.g. started by hand with `cilium-lab exec`).
  await sweep(() => processesInNetns(inodes), 'still in the lab netns', o.log);

  for (const m of mountsUnder(dir)) {
    const r = spawnSync('umount', ['-l', m], { encoding: 'utf8' });
    if (r.status !== 0) o.log(`  warning: umount ${m}: ${r.stderr.trim()}`);
  }
  deleteNetnsList(netns);
  for (const d of cgroups) {
    rmCgroupTree(d);
    // The shared parent <hierarchy>/cilium-lab goes with the last lab (rmdir fails while others use it).
    try {
      rmdirSync(join(d, '..'));
    } catch {
      // other labs still there
    }
  }
  rmSync(dir, { recursive: true, force: true });
  releaseIndex(o.name);
  removeHostPaths(o.log);
  return true;
}
