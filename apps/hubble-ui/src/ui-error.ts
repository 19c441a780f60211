/** A hubble-ui error: stable `code` and a `hint` (errno when it came from the kernel). */
export class UiError extends Error {
  readonly errno: number | undefined;
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
    errno?: number,
  ) {
    super(message);
    this.name = 'UiError';
    this.errno = errno;
  }
}
