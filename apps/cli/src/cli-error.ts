/** A CLI usage or lookup error: a stable code and a hint, printed as `Error: …` / `hint: …`. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
