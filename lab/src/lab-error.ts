/** A lab error with a stable code and a hint for the operator (errno when it came from the kernel). */
export class LabError extends Error {
  readonly code: string;
  readonly hint: string;
  readonly errno: number | undefined;

  constructor(code: string, message: string, hint: string, errno?: number) {
    super(message);
    this.name = 'LabError';
    this.code = code;
    this.hint = hint;
    this.errno = errno;
  }
}
