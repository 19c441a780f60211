/** An agent error with a stable code, an HTTP status for the API, and a hint for the operator. */
export class AgentError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
    readonly status = 500,
    readonly errno?: number,
  ) {
    super(message);
    this.name = 'AgentError';
  }
}
