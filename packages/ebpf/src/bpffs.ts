/** The BPF filesystem: where maps and programs are pinned so they outlive the agent. */
import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { BpfError, kernelError } from './errors.js';
import { lastErrno, libc } from './native.js';

export const BPF_FS_MAGIC = 0xcafe4a11;

/** Whether `path` is on a bpffs (statfs f_type). False if it does not exist. */
export function isBpffs(path: string): boolean {
  const buf = Buffer.alloc(128); // struct statfs is 120 bytes on x86_64; f_type is the first long
  if (libc().statfs(path, buf) !== 0) return false;
  return buf.readUInt32LE(0) === BPF_FS_MAGIC && buf.readUInt32LE(4) === 0;
}

/** mkdir -p `root` and mount a bpffs there unless it already is one. */
export function mountBpffs(root: string): void {
  try {
    mkdirSync(root, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new BpfError('EBPF_BPFFS', `create ${root}: ${(err as Error).message}`, { hint: 'run as root, or pick a writable path', cause: err });
  }
  if (isBpffs(root)) return;
  if (libc().mount('bpf', root, 'bpf', 0, 'mode=0700') !== 0) {
    throw kernelError('EBPF_BPFFS', `mount bpffs at ${root}`, lastErrno(), { hint: 'run as root (mount needs CAP_SYS_ADMIN)' });
  }
}

/** Unmount the bpffs mounted at `root` (MNT_DETACH); pins there go away. No-op if `root` is not a bpffs mount point. */
export function unmountBpffs(root: string): void {
  if (!isBpffs(root)) return;
  // only a mount point (not a directory inside some other bpffs)
  if (statSync(root).dev === statSync(path.dirname(path.resolve(root))).dev) return;
  if (libc().umount2(root, 2 /* MNT_DETACH */) !== 0) {
    throw kernelError('EBPF_BPFFS', `unmount bpffs at ${root}`, lastErrno());
  }
}
