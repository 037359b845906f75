import { AsyncmonError } from '../src/errors.js';

/** The CLI's exit codes, for scripts and probes. */
export const EXIT = {
  ok: 0,
  /** A check failed, or the agent refused the command. */
  failed: 1,
  /** Bad usage, or no such target. */
  usage: 2,
  /** The agent could not be reached or did not answer in time (or was too busy to: BUSY). */
  unreachable: 3,
} as const;

/** Maps an error to the exit code: the one place that decides. */
export function exitCodeFor(err: unknown): number {
  if (!(err instanceof AsyncmonError)) return EXIT.failed;
  switch (err.code) {
    case 'BAD_ARGUMENT':
    case 'UNKNOWN_COMMAND':
    case 'NO_TARGET':
      return EXIT.usage;
    case 'UNAVAILABLE':
    case 'BUSY':
      return EXIT.unreachable;
    default:
      return EXIT.failed;
  }
}
