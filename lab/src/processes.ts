// Long-running processes of the lab: started detached (own session, output to a log file), recorded by
// pid + start time, stopped by pid only after checking that the pid is still the process we started.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabError } from './lab-error.js';
import type { ProcessRecord } from './state.js';

/** Field 22 (starttime) of /proc/PID/stat, or undefined when the pid is gone or a zombie. */
export function procStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm may contain spaces and parentheses: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
  return rest[19];
}

export function isAlive(rec: Pick<ProcessRecord, 'pid' | 'startTime'>): boolean {
  return procStartTime(rec.pid) === rec.startTime;
}

export interface SpawnOptions {
  role: string;
  argv: string[];
  log: string;
  /** Run inside /run/netns/NAME (through nsenter, which execs: the pid is the program's). */
  netns?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Starts a detached process with stdout+stderr appended to opts.log; returns its record. */
export function spawnDetached(opts: SpawnOptions): ProcessRecord {
  const [cmd, ...args] = opts.netns === undefined ? opts.argv : ['nsenter', `--net=/run/netns/${opts.netns}`, '--', ...opts.argv];
  if (cmd === undefined) throw new LabError('LAB_SPAWN', `${opts.role}: empty command`, 'internal error');
  const fd = openSync(opts.log, 'a', 0o600);
  try {
    const child = spawn(cmd, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: opts.env ?? process.env,
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    });
    const pid = child.pid;
    if (pid === undefined) throw new LabError('LAB_SPAWN', `${opts.role}: could not start ${cmd}`, `is ${cmd} installed?`);
    child.unref();
    // nsenter execs the program: the start time read now is the program's (same pid).
    const startTime = procStartTime(pid);
    if (startTime === undefined) {
      throw new LabError('LAB_SPAWN', `${opts.role} (pid ${pid}) exited at once`, `see ${opts.log}`);
    }
    const rec: ProcessRecord = { role: opts.role, pid, startTime, argv: opts.argv, log: opts.log };
    if (opts.netns !== undefined) rec.netns = opts.netns;
    return rec;
  } finally {
    closeSync(fd);
  }
}

/** The last lines of a log file, for error messages. */
export function logTail(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** SIGTERM, wait up to graceMs, then SIGKILL; only if the pid is still the recorded process. */
export async function stopProcess(rec: Pick<ProcessRecord, 'pid' | 'startTime'>, graceMs = 10_000): Promise<void> {
  if (!isAlive(rec)) return;
  signal(rec.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(rec)) return;
    await sleep(100);
  }
  if (isAlive(rec)) signal(rec.pid, 'SIGKILL');
  for (let i = 0; i < 50 && isAlive(rec); i++) await sleep(100);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/** Inode of a netns file, or undefined. */
export function nsInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/**
 * Every live process whose network namespace is one of the given inodes (read from /proc/PID/ns/net),
 * with its start time. Used to find what runs inside a lab's netns (pods, hostNetwork pods, `exec`s).
 */
export function processesInNetns(inodes: Set<number>): Array<{ pid: number; startTime: string }> {
  const out: Array<{ pid: number; startTime: string }> = [];
  if (inodes.size === 0) return out;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    if (pid === process.pid) continue;
    let link: string;
    try {
      link = readlinkSync(`/proc/${pid}/ns/net`);
    } catch {
      continue;
    }
    const m = /^net:\[(\d+)\]$/.exec(link);
    if (m === null || !inodes.has(Number(m[1]))) continue;
    const startTime = procStartTime(pid);
    if (startTime !== undefined) out.push({ pid, startTime });
  }
  return out;
}

/** Pids listed in cgroup.procs of a cgroup directory and all its children. */
export function pidsInCgroupTree(dir: string): number[] {
  const pids: number[] = [];
  if (!existsSync(dir)) return pids;
  const walk = (d: string): void => {
    try {
      for (const l of readFileSync(`${d}/cgroup.procs`, 'utf8').split('\n')) if (l.trim() !== '') pids.push(Number(l));
    } catch {
      // not a cgroup dir or gone
    }
    let entries: string[] = [];
    try {
      entries = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const e of entries) walk(`${d}/${e}`);
  };
  walk(dir);
  return pids;
}
