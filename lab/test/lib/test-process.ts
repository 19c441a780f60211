// Child processes of the lab tests (etcd, kube-apiserver, operators, agents): started with their output in a
// log file, stopped by pid (SIGTERM, then SIGKILL after a grace period), and a poll that fails early, with
// the log tail, when one of the processes it depends on has exited.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
  exited: Promise<number | null>;
}

/** Spawns bin with args, stdout and stderr appended to the file `log`. */
export function startProc(name: string, bin: string, args: string[], log: string): Proc {
  const fd = openSync(log, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { name, child, log, exited };
}

/** The last n lines of the process's log ('' if none). */
export function tail(p: Proc | undefined, n = 40): string {
  if (!p) return '';
  try {
    return readFileSync(p.log, 'utf8').split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

/** Sends signal to the process (by pid) and waits for it; SIGKILL if it is still there after graceMs. */
export async function stopProc(p: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM', graceMs = 20_000): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill(signal);
  const done = await Promise.race([p.exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!done) {
    p.child.kill('SIGKILL');
    await p.exited;
  }
}

/**
 * Polls fn until it returns something (not undefined/false); a throw counts as "not yet". Fails at once when one
 * of `procs` has exited (with its log tail), and after timeoutMs with the last error and the procs' log tails.
 */
export async function waitUntil<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 60_000, procs: (Proc | undefined)[] = []): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    for (const p of procs) {
      if (p && p.child.exitCode !== null) throw new Error(`${what}: ${p.name} exited with ${p.child.exitCode}\n${tail(p)}`);
    }
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not after ${timeoutMs} ms${lastErr ? ` (last error: ${(lastErr as Error).message})` : ''}\n${procs.map((p) => `--- ${p?.name}\n${tail(p)}`).join('\n')}`);
    }
    await sleep(250);
  }
}
