/**
 * A CNI error: carries the spec's numeric error code (printed on stdout as
 * `{cniVersion, code, msg, details}`), a stable string code for logs and tests,
 * the kernel errno when one caused it, and a hint for the operator.
 */
export const CniCode = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  UNKNOWN_CONTAINER: 3,
  INVALID_ENV: 4,
  IO_FAILURE: 5,
  DECODE_FAILURE: 6,
  INVALID_CONFIG: 7,
  TRY_AGAIN_LATER: 11,
  NOT_AVAILABLE: 50,
  NOT_AVAILABLE_DEGRADED: 51,
  // plugin specific (100+)
  INTERNAL: 100,
  INTERFACE_EXISTS: 101,
  AGENT_API: 102,
  KERNEL: 103,
  CHECK_FAILED: 110,
  GC_FAILED: 120,
} as const;

export type CniCodeNumber = (typeof CniCode)[keyof typeof CniCode];

export interface CniErrorOptions {
  details?: string;
  hint?: string;
  errno?: number;
  cause?: unknown;
}

export class CniError extends Error {
  override readonly name = 'CniError';
  /** Stable string code, e.g. `CNI_INVALID_ENV`. */
  readonly code: string;
  /** The CNI spec error code printed on stdout. */
  readonly cniCode: number;
  readonly details: string | undefined;
  readonly hint: string;
  readonly errno: number | undefined;

  constructor(cniCode: number, code: string, msg: string, opts: CniErrorOptions = {}) {
    super(msg, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.cniCode = cniCode;
    this.code = code;
    this.details = opts.details;
    this.hint = opts.hint ?? '';
    this.errno = opts.errno;
  }

  /** The spec error object (Section 5, "Error"). */
  toResult(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    const details = [this.details, this.hint ? `hint: ${this.hint}` : undefined].filter((s): s is string => !!s).join('; ');
    return details ? { cniVersion, code: this.cniCode, msg: this.message, details } : { cniVersion, code: this.cniCode, msg: this.message };
  }
}

/** Best-effort description of any thrown value (keeps `code`, `errno`, `hint` when present). */
export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const x = e as Error & { code?: unknown; errno?: unknown; hint?: unknown };
    const parts = [e.message];
    if (typeof x.code === 'string' && !e.message.includes(x.code)) parts.push(`code=${x.code}`);
    if (typeof x.errno === 'number') parts.push(`errno=${x.errno}`);
    if (typeof x.hint === 'string' && x.hint) parts.push(`hint: ${x.hint}`);
    return parts.join(' ');
  }
  return String(e);
}

/** Wraps a non-CNI error (kernel, netlink) into a plugin-specific CNI error naming the operation. */
export function kernelError(op: string, e: unknown): CniError {
  if (e instanceof CniError) return e;
  const x = e as { errno?: unknown; hint?: unknown } | undefined;
  const errno = typeof x?.errno === 'number' ? x.errno : undefined;
  const hint = typeof x?.hint === 'string' ? x.hint : '';
  return new CniError(CniCode.KERNEL, 'CNI_KERNEL', `${op}: ${e instanceof Error ? e.message : String(e)}`, {
    ...(errno !== undefined ? { errno } : {}),
    hint,
    cause: e,
  });
}
