import { AsyncmonError } from './errors.js';
import type { ErrorCode } from './errors.js';

/** Version of the JSON-lines protocol; `hello` negotiates it. */
export const PROTOCOL_VERSION = 1;

/** `{"id":1,"cmd":"ps","args":{…}}` */
export interface Request {
  id: number | string;
  cmd: string;
  args: unknown;
}

export interface OkResponse {
  id: number | string | null;
  ok: true;
  result: unknown;
}

export interface ErrorResponse {
  id: number | string | null;
  ok: false;
  error: { code: ErrorCode; message: string };
}

export type Response = OkResponse | ErrorResponse;

/** A pushed message (`watch` updates), told apart from responses by `event`. */
export interface UpdateEvent {
  event: 'update';
  seq: number;
  now: number;
  changes: Record<string, unknown>;
  dropped: number;
}

/**
 * Parses one JSON line into a request. Everything about the shape is checked here, so the
 * dispatcher only sees well-formed requests; an id is echoed back when one could be read.
 */
export function parseRequest(line: string): Request {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new RequestError(null, new AsyncmonError('BAD_ARGUMENT', 'invalid JSON'));
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RequestError(null, new AsyncmonError('BAD_ARGUMENT', 'a request is a JSON object: {"id":1,"cmd":"ps","args":{}}'));
  }
  const obj = value as Record<string, unknown>;
  const id = obj.id;
  const validId = (typeof id === 'number' && Number.isFinite(id)) || (typeof id === 'string' && id.length <= 64);
  if (!validId) throw new RequestError(null, new AsyncmonError('BAD_ARGUMENT', 'missing or bad "id": a number or a short string'));
  if (typeof obj.cmd !== 'string' || obj.cmd.length === 0 || obj.cmd.length > 64) {
    throw new RequestError(id as number | string, new AsyncmonError('BAD_ARGUMENT', 'missing or bad "cmd"'));
  }
  return { id: id as number | string, cmd: obj.cmd, args: obj.args };
}

/** A request that could not be parsed, with the id to answer under (null when unknown). */
export class RequestError extends Error {
  constructor(
    readonly id: number | string | null,
    override readonly cause: AsyncmonError,
  ) {
    super(cause.message);
  }
}

export function okResponse(id: number | string | null, result: unknown): OkResponse {
  return { id, ok: true, result: result === undefined ? null : result };
}

export function errorResponse(id: number | string | null, err: unknown): ErrorResponse {
  if (err instanceof AsyncmonError) return { id, ok: false, error: { code: err.code, message: err.message } };
  const message = err instanceof Error ? err.message : String(err);
  return { id, ok: false, error: { code: 'INTERNAL', message } };
}

/** Turns a wire error back into an `AsyncmonError` (client side). */
export function toError(res: ErrorResponse): AsyncmonError {
  return new AsyncmonError(res.error.code, res.error.message);
}
