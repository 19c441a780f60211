// Network namespace handles. Namespaces are per thread: everything here runs synchronously on the
// calling thread (node:fs's *Sync calls included) and always returns the thread to where it was.
import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import { CLONE_NEWNET } from './internal/constants.js';
import { lastErrno, libc } from './internal/libc.js';
import { NetlinkError } from './netlink-error.js';

/** The calling thread's own netns (not /proc/self, which is the main thread's). */
export const THREAD_NETNS_PATH = '/proc/thread-self/ns/net';

/** Opens a netns file (/run/netns/NAME, /proc/PID/ns/net, ...) read-only; close it with closeNetns(). */
export function openNetns(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (e) {
    const errno = errnoOf(e);
    if (errno === undefined) throw e;
    throw NetlinkError.fromErrno(`open netns ${path}`, errno);
  }
}

export function closeNetns(fd: number): void {
  closeSync(fd);
}

/** Moves the calling thread into the netns behind fd. Internal building block of withNetns. */
export function setThreadNetns(fd: number, what: string): void {
  if (libc.setns(fd, CLONE_NEWNET) !== 0) throw NetlinkError.fromErrno(`setns into ${what}`, lastErrno());
}

/**
 * Runs fn with the calling thread inside the netns (a path or an open fd), then returns to the
 * original netns, also when fn throws. fn must be synchronous: anything it schedules runs later,
 * outside the netns (and libuv's pool threads never follow setns at all).
 */
export function withNetns<T>(pathOrFd: string | number, fn: () => T): T {
  const what = typeof pathOrFd === 'number' ? `netns fd ${pathOrFd}` : pathOrFd;
  const saved = openNetns(THREAD_NETNS_PATH);
  let target: number | undefined;
  try {
    target = typeof pathOrFd === 'number' ? pathOrFd : openNetns(pathOrFd);
    setThreadNetns(target, what);
    let result: T;
    try {
      result = fn();
    } finally {
      restoreThreadNetns(saved, what);
    }
    if (isThenable(result)) {
      (result as PromiseLike<unknown>).then(undefined, () => undefined);
      throw new NetlinkError({
        operation: `withNetns(${what})`,
        code: 'NETLINK_ASYNC_IN_NETNS',
        detail: 'the callback returned a promise; its asynchronous part ran outside the netns',
        hint: 'pass a synchronous function; do async work outside and only the kernel calls inside',
      });
    }
    return result;
  } finally {
    if (typeof pathOrFd === 'string' && target !== undefined) closeSync(target);
    closeSync(saved);
  }
}

/** Goes back to the saved netns; failing here would leave the thread in the wrong netns, so it is loud. */
export function restoreThreadNetns(saved: number, from: string): void {
  if (libc.setns(saved, CLONE_NEWNET) !== 0) {
    const errno = lastErrno();
    throw new NetlinkError({
      operation: `return from ${from} to the original netns`,
      code: 'NETLINK_NETNS_RESTORE',
      errno,
      hint: 'this thread is now in the wrong netns: exit the process',
    });
  }
}

/** Inode of a netns file (default: the calling thread's netns). Same inode = same netns. */
export function netnsInode(pathOrFd: string | number = THREAD_NETNS_PATH): number {
  try {
    return typeof pathOrFd === 'number' ? fstatSync(pathOrFd).ino : statSync(pathOrFd).ino;
  } catch (e) {
    const errno = errnoOf(e);
    if (errno === undefined) throw e;
    throw NetlinkError.fromErrno(`stat netns ${String(pathOrFd)}`, errno);
  }
}

function isThenable(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** Positive errno of a node:fs error, if it is one. */
export function errnoOf(e: unknown): number | undefined {
  const n = (e as { errno?: unknown } | null)?.errno;
  return typeof n === 'number' ? Math.abs(n) : undefined;
}
