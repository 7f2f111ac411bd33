// Errors that carry an exit code. Only the entry point (main.ts) prints them and exits.

export class ExitError extends Error {
  constructor(
    message: string,
    readonly code = 1,
    /** What the user can do next, printed on its own line. */
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ExitError';
  }
}

/** Bad flags or arguments: exit 2 like most CLIs (and > 1 for `diff`). */
export class UsageError extends ExitError {
  constructor(message: string, hint?: string) {
    super(message, 2, hint);
    this.name = 'UsageError';
  }
}
