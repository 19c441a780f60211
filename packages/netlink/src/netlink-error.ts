import { constants as osConstants } from 'node:os';
import { libc } from './internal/libc.js';

/** Codes that do not come from a kernel errno. Kernel failures use `NETLINK_<ERRNO NAME>`, e.g. `NETLINK_EEXIST`. */
export type NetlinkLocalCode =
  | 'NETLINK_INVALID_ARGUMENT' // a MAC, CIDR, name or option the library refused before asking the kernel
  | 'NETLINK_PROTOCOL' // the kernel's reply did not parse or did not answer the request
  | 'NETLINK_CLOSED' // the socket was used after close()
  | 'NETLINK_NETNS_RESTORE' // could not return to the original netns (the thread is left in the wrong netns)
  | 'NETLINK_ASYNC_IN_NETNS'; // withNetns() was given an async function

export class NetlinkError extends Error {
  override readonly name = 'NetlinkError';
  /** Stable code: `NETLINK_<ERRNO>` for kernel errors (NETLINK_EEXIST, NETLINK_ENODEV, ...) or a NetlinkLocalCode. */
  readonly code: string;
  /** Positive errno when the kernel refused. */
  readonly errno: number | undefined;
  /** What to do about it. */
  readonly hint: string;
  /** The operation that failed, e.g. `create veth lxc1234 (peer eth0)`. */
  readonly operation: string;
  /** The kernel's extended ack message (NLMSGERR_ATTR_MSG), when it gave one. */
  readonly kernelMessage: string | undefined;

  constructor(o: { operation: string; code: string; errno?: number; hint: string; kernelMessage?: string; detail?: string }) {
    const reason = o.kernelMessage ?? o.detail ?? (o.errno !== undefined ? strerror(o.errno) : o.code);
    super(`${o.operation}: ${reason}${o.errno !== undefined ? ` (${errnoName(o.errno)}, errno ${o.errno})` : ''}`);
    this.code = o.code;
    this.errno = o.errno;
    this.hint = o.hint;
    this.operation = o.operation;
    this.kernelMessage = o.kernelMessage;
  }

  /** An error for a positive errno returned by the kernel (netlink NLMSG_ERROR or a failed syscall). */
  static fromErrno(operation: string, errno: number, kernelMessage?: string): NetlinkError {
    return new NetlinkError({
      operation,
      code: `NETLINK_${errnoName(errno)}`,
      errno,
      hint: hintFor(errno),
      ...(kernelMessage !== undefined && kernelMessage !== '' ? { kernelMessage } : {}),
    });
  }

  /** The same error with a more specific hint (for callers that know the context better). */
  withHint(hint: string): NetlinkError {
    const e = new NetlinkError({
      operation: this.operation,
      code: this.code,
      hint,
      ...(this.errno !== undefined ? { errno: this.errno } : {}),
      ...(this.kernelMessage !== undefined ? { kernelMessage: this.kernelMessage } : {}),
    });
    if (this.stack !== undefined) e.stack = this.stack;
    return e;
  }

  static invalid(operation: string, detail: string, hint: string): NetlinkError {
    return new NetlinkError({ operation, code: 'NETLINK_INVALID_ARGUMENT', detail, hint });
  }
}

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(osConstants.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}
// Where two names share a number, use the one Linux and its tools print.
errnoNames.set(95, 'EOPNOTSUPP');
errnoNames.set(11, 'EAGAIN');
errnoNames.set(35, 'EDEADLK');
// Linux's ENOTSUPP (524) is kernel-internal but leaks out of some netlink paths.
errnoNames.set(524, 'ENOTSUPP');

function strerror(errno: number): string {
  try {
    return libc.strerror(errno);
  } catch {
    return errnoName(errno);
  }
}

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

const hints: Record<string, string> = {
  EEXIST: 'an object with that name or key already exists (in this netns): delete it first, pick another name, or use replace',
  ENODEV: 'no such network device: check the name or index, and that the socket was opened in the netns where the device lives',
  EPERM: 'needs CAP_NET_ADMIN (and CAP_SYS_ADMIN for setns/mount): run as root',
  EACCES: 'permission denied: run as root',
  ESRCH: 'no such route: check dst, table, gateway and device',
  ENOENT: 'not found: check the object (route, neighbour, netns path) and the netns',
  EADDRNOTAVAIL: 'the address is not configured on that device',
  ENETUNREACH: 'the gateway is not reachable through any route: add a route to it first (e.g. a /32 scope link route), or set onlink',
  EINVAL: 'the kernel rejected an argument: see the kernel message; a route dst must not have host bits set past its prefix length',
  EOPNOTSUPP: 'the kernel lacks this feature or link type: load the module (e.g. modprobe veth / dummy)',
  ENOTSUPP: 'the kernel lacks this feature or link type: load the module (e.g. modprobe veth / dummy)',
  EBUSY: 'the device is busy: bring it down first (renames and some changes need it down)',
  EBADF: 'bad file descriptor: the netns fd was closed or never opened',
  ENOBUFS: 'the kernel ran out of buffer space for a dump: retry',
  ERANGE: 'a value is out of range (e.g. MTU outside the device limits)',
  EAFNOSUPPORT: 'address family not supported here (is IPv6 disabled in this netns?)',
  EAGAIN: 'the kernel did not answer in time: retry',
  EINTR: 'interrupted: retry',
  EMFILE: 'too many open files: close netns fds and sockets you no longer need',
};

function hintFor(errno: number): string {
  return hints[errnoName(errno)] ?? 'see the kernel message and errno';
}
