/** An error of the lab kubelet: a stable `code`, a `hint` for the operator, the errno when the kernel said no. */
export class KubeletError extends Error {
  override readonly name = 'KubeletError';
  readonly code: string;
  readonly hint: string;
  readonly errno: number | undefined;

  constructor(code: string, message: string, hint: string, o: { errno?: number; cause?: unknown } = {}) {
    super(message, o.cause === undefined ? undefined : { cause: o.cause });
    this.code = code;
    this.hint = hint;
    this.errno = o.errno;
  }
}
