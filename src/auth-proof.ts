import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Challenge and response between a client and an agent, so that neither side ever sends the
 * token: the client proves it knows the token by an HMAC over the agent's challenge and its own
 * nonce, and the agent answers with an HMAC the other way round. A listener that is not the
 * agent (a port squatted after the agent died, an address from a planted record) gets no token
 * and cannot produce the agent's proof, so the client stops before it sends any command.
 */

/** A fresh random nonce or challenge: 128 bits, hex. */
export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

/** Nonces and challenges are 16 to 64 hex digits: anything else is refused before hashing. */
export function isNonce(v: unknown): v is string {
  return typeof v === 'string' && /^[0-9a-f]{16,64}$/.test(v);
}

function hmac(token: string, label: string, first: string, second: string): string {
  return createHmac('sha256', token).update(`asyncmon ${label}\n${first}\n${second}`).digest('hex');
}

/** What the client sends: proof that it knows `token`, bound to this session's challenge. */
export function clientProof(token: string, challenge: string, nonce: string): string {
  return hmac(token, 'client', challenge, nonce);
}

/** What the agent answers: proof that it knows `token` too, bound to the client's nonce. */
export function agentProof(token: string, nonce: string, challenge: string): string {
  return hmac(token, 'agent', nonce, challenge);
}

/** Compares two hex proofs in constant time (different lengths are simply unequal). */
export function sameProof(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
