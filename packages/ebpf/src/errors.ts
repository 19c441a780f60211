import os from 'node:os';

/** Stable error codes thrown by this package. */
export type BpfErrorCode =
  | 'EBPF_OPEN'
  | 'EBPF_LOAD'
  | 'EBPF_RODATA'
  | 'EBPF_NO_PROGRAM'
  | 'EBPF_NO_MAP'
  | 'EBPF_NOT_LOADED'
  | 'EBPF_CLOSED'
  | 'EBPF_MAP_LOOKUP'
  | 'EBPF_MAP_UPDATE'
  | 'EBPF_MAP_DELETE'
  | 'EBPF_MAP_ITERATE'
  | 'EBPF_MAP_BATCH'
  | 'EBPF_MAP_INFO'
  | 'EBPF_MAP_TYPE'
  | 'EBPF_PIN'
  | 'EBPF_OBJ_GET'
  | 'EBPF_BPFFS'
  | 'EBPF_TC_HOOK'
  | 'EBPF_TC_ATTACH'
  | 'EBPF_TC_DETACH'
  | 'EBPF_TC_QUERY'
  | 'EBPF_CGROUP_ATTACH'
  | 'EBPF_CGROUP_DETACH'
  | 'EBPF_CGROUP_QUERY'
  | 'EBPF_RINGBUF'
  | 'EBPF_PROG_TEST_RUN'
  | 'EBPF_CODEC_SIZE'
  | 'EBPF_CODEC_TYPE'
  | 'EBPF_CODEC_VALUE'
  | 'EBPF_PERM'
  | 'EBPF_INVALID_ARGUMENT';

/**
 * Every failure of this package. `code` is stable, `errno` is set when the kernel (or libbpf) said no,
 * `hint` says what to do about it.
 */
export class BpfError extends Error {
  readonly code: BpfErrorCode;
  readonly errno: number | undefined;
  readonly hint: string;
  /** libbpf / verifier log captured during the failing call (tail), when there is one. */
  readonly log: string | undefined;

  constructor(
    code: BpfErrorCode,
    message: string,
    o: { errno?: number | undefined; hint?: string; log?: string | undefined; cause?: unknown } = {},
  ) {
    super(message, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = 'BpfError';
    this.code = code;
    this.errno = o.errno;
    this.hint = o.hint ?? '';
    this.log = o.log;
  }
}

/** errno number -> symbolic name (ENOENT, ...), for messages. */
export function errnoName(errno: number): string {
  if (errno === 524) return 'ENOTSUPP';
  for (const [name, value] of Object.entries(os.constants.errno)) {
    if (value === errno) return name;
  }
  return `errno ${errno}`;
}

/** Hints that apply to an errno whatever the operation. */
function errnoHint(errno: number): string | undefined {
  switch (errno) {
    case os.constants.errno.EPERM:
      return 'run as root (CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN are needed)';
    case os.constants.errno.EACCES:
      return 'permission denied: run as root; for program loads this is the verifier rejecting the program';
    case os.constants.errno.ENOMEM:
      return 'the kernel is out of memory for BPF objects, or RLIMIT_MEMLOCK is too low';
    case 524:
    case os.constants.errno.EOPNOTSUPP:
      return 'the running kernel does not support this operation';
    default:
      return undefined;
  }
}

/**
 * Build a BpfError for a failed kernel/libbpf call. EPERM/EACCES become EBPF_PERM whatever the
 * operation, so callers can tell "not root" apart from a real failure.
 */
export function kernelError(
  code: BpfErrorCode,
  what: string,
  errno: number,
  o: { hint?: string; log?: string | undefined } = {},
): BpfError {
  // EACCES is also how the verifier says no, so only EPERM means "not privileged"
  const perm = errno === os.constants.errno.EPERM;
  const hint = o.hint ?? errnoHint(errno) ?? '';
  let message = `${what}: ${errnoName(errno)} (${strerror(errno)})`;
  if (o.log !== undefined && o.log.trim() !== '') message += `\n--- libbpf log (tail) ---\n${o.log.trimEnd()}`;
  return new BpfError(perm ? 'EBPF_PERM' : code, message, {
    errno,
    hint: perm ? errnoHint(errno)! : hint,
    log: o.log,
  });
}

const messages: Record<string, string> = {
  ENOENT: 'no such entry',
  EEXIST: 'already exists',
  EINVAL: 'invalid argument',
  EPERM: 'operation not permitted',
  E2BIG: 'too big (map full?)',
  ENOSPC: 'no space left',
  EBUSY: 'busy',
  EBADF: 'bad file descriptor',
  ENOTSUPP: 'not supported',
  EOPNOTSUPP: 'operation not supported',
  EACCES: 'permission denied (verifier rejected the program?)',
  ENOMEM: 'out of memory',
  ENODEV: 'no such device',
  EFAULT: 'bad address',
};

function strerror(errno: number): string {
  return messages[errnoName(errno)] ?? 'failed';
}
