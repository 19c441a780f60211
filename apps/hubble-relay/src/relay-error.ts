/** A Hubble Relay error: stable `code` and a `hint` for the operator (errno when it came from the kernel). */
export class RelayError extends Error {
  readonly errno: number | undefined;
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
    errno?: number,
  ) {
    super(message);
    this.name = 'RelayError';
    this.errno = errno;
  }
}
