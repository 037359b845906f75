/** Error codes shared by the agent, the wire protocol and the CLI's exit codes. */
export type ErrorCode =
  | 'BAD_ARGUMENT'
  | 'UNKNOWN_COMMAND'
  | 'NO_SUCH_TASK'
  | 'NOT_CANCELLABLE'
  | 'FORBIDDEN'
  | 'BLOCKED'
  /** The agent's budget for main-thread work is spent: try again shortly. */
  | 'BUSY'
  | 'UNAVAILABLE'
  | 'NO_TARGET'
  | 'EVAL_FAILED'
  | 'INTERNAL';

/** An error as a value with a stable `code`, so front ends can map it without parsing text. */
export class AsyncmonError extends Error {
  override name = 'AsyncmonError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}
