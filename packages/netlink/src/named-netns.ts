// Named network namespaces, made exactly like `ip netns add` makes them: an empty file under
// /run/netns with the netns bind-mounted on it, /run/netns itself a shared mount.
import { closeSync, mkdirSync, openSync, readdirSync, constants as fsc, unlinkSync } from 'node:fs';
import { CLONE_NEWNET, MNT_DETACH, MS_BIND, MS_REC, MS_SHARED } from './internal/constants.js';
import { lastErrno, libc } from './internal/libc.js';
import { NetlinkError } from './netlink-error.js';
import { errnoOf, openNetns, restoreThreadNetns, THREAD_NETNS_PATH } from './netns.js';

export const NETNS_RUN_DIR = '/run/netns';

export function netnsPath(name: string): string {
  return `${NETNS_RUN_DIR}/${name}`;
}

function checkName(name: string, op: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0') || name.length > 255) {
    throw NetlinkError.invalid(op, `invalid netns name ${JSON.stringify(name)}`, 'use a plain file name such as "pod-1a2b"');
  }
}

function makeRunDirShared(): void {
  mkdirSync(NETNS_RUN_DIR, { recursive: true, mode: 0o755 });
  let boundOnItself = false;
  for (;;) {
    if (libc.mount('', NETNS_RUN_DIR, 'none', MS_SHARED | MS_REC, null) === 0) return;
    const errno = lastErrno();
    // EINVAL: /run/netns is not a mount point yet; bind it onto itself once, then retry.
    if (errno !== 22 || boundOnItself) throw NetlinkError.fromErrno(`make ${NETNS_RUN_DIR} a shared mount`, errno);
    if (libc.mount(NETNS_RUN_DIR, NETNS_RUN_DIR, 'none', MS_BIND | MS_REC, null) !== 0) {
      throw NetlinkError.fromErrno(`bind-mount ${NETNS_RUN_DIR} on itself`, lastErrno());
    }
    boundOnItself = true;
  }
}

/** Creates a new, empty netns named NAME (visible to `ip netns`); returns its path /run/netns/NAME. */
export function createNetns(name: string): string {
  const op = `create netns ${name}`;
  checkName(name, op);
  makeRunDirShared();
  const path = netnsPath(name);
  try {
    closeSync(openSync(path, fsc.O_RDONLY | fsc.O_CREAT | fsc.O_EXCL, 0));
  } catch (e) {
    const errno = errnoOf(e);
    if (errno === undefined) throw e;
    throw NetlinkError.fromErrno(op, errno);
  }
  const saved = openNetns(THREAD_NETNS_PATH);
  try {
    if (libc.unshare(CLONE_NEWNET) !== 0) throw NetlinkError.fromErrno(`${op}: unshare(CLONE_NEWNET)`, lastErrno());
    let mounted = false;
    try {
      mounted = libc.mount(THREAD_NETNS_PATH, path, 'none', MS_BIND, null) === 0;
      if (!mounted) throw NetlinkError.fromErrno(`${op}: bind-mount the new netns on ${path}`, lastErrno());
    } finally {
      restoreThreadNetns(saved, `the new netns ${name}`);
    }
  } catch (e) {
    try {
      unlinkSync(path);
    } catch {
      // keep the original error
    }
    throw e;
  } finally {
    closeSync(saved);
  }
  return path;
}

/** Removes a named netns (lazy unmount + unlink, as `ip netns delete`). False if it did not exist. */
export function deleteNetns(name: string): boolean {
  const op = `delete netns ${name}`;
  checkName(name, op);
  const path = netnsPath(name);
  // Errors are expected when it is not mounted (EINVAL) or absent (ENOENT); unlink decides.
  libc.umount2(path, MNT_DETACH);
  try {
    unlinkSync(path);
    return true;
  } catch (e) {
    const errno = errnoOf(e);
    if (errno === 2) return false;
    if (errno === undefined) throw e;
    throw NetlinkError.fromErrno(op, errno);
  }
}

/** Names under /run/netns. */
export function listNetns(): string[] {
  try {
    return readdirSync(NETNS_RUN_DIR).sort();
  } catch (e) {
    if (errnoOf(e) === 2) return [];
    throw e;
  }
}
