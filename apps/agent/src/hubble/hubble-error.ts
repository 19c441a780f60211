/** A Hubble observer error: stable `code`, `errno` when it came from the kernel, and a `hint` for the operator. */
export class HubbleError extends Error {
  readonly errno: number | undefined;
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
    errno?: number,
  ) {
    super(message);
    this.name = 'HubbleError';
    this.errno = errno;
  }
}
