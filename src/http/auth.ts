import { hash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The Bull Board user who sent the request (set by `basicAuth`): the `who` of the board's audit lines. */
    boardUser?: string;
    /** The label of the API token the request came with (set by `bearerAuth`): the `who` of the API's audit lines. */
    apiClient?: string;
  }
}

/** The API client when API_TOKENS is empty (loopback only, CONTRACT §2). */
export const ANONYMOUS_API_CLIENT = 'anonymous';

/** The board user when BOARD_USERNAME is empty (loopback only, CONTRACT §2). */
export const ANONYMOUS_BOARD_USER = 'anonymous';

// One-shot `hash` costs half of createHash().update().digest(): it runs on every API request.
const digest = (value: string) => hash('sha256', value, 'buffer') as unknown as Buffer;

/** RFC 9110 §11.1: auth scheme names are case-insensitive (CONTRACT §3: `Bearer` in any case). */
const BEARER = /^bearer[ \t]+(.+)$/i;
const BASIC = /^basic[ \t]+(.+)$/i;

/**
 * `Authorization: Bearer <token>` against API_TOKENS; several tokens so one can be rotated out. Empty = open (loopback
 * only). A request that passes carries its token's label (never the token) in `request.apiClient`.
 */
export function bearerAuth(tokens: readonly string[], labels: readonly string[] = []) {
  const secrets = tokens.map(digest);
  // A `done` hook, not an async one: it runs on every API request (issue 18 profiles).
  return (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void => {
    if (secrets.length === 0) {
      request.apiClient = ANONYMOUS_API_CLIENT;
      return done();
    }
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1]?.trim() ?? '';
    const index = token ? matchingIndex(token, secrets) : -1;
    if (index < 0) return done(new ApiError('unauthorized', token ? 'the bearer token is not valid' : 'missing Authorization: Bearer <token>'));
    request.apiClient = labels[index] ?? `token-${index + 1}`;
    done();
  };
}

/**
 * Which secret matches, comparing digests with every one of them, so neither the length nor the content of a
 * configured secret, nor which one matched, leaks through timing.
 */
function matchingIndex(candidate: string, secrets: readonly Buffer[]): number {
  const d = digest(candidate);
  let found = -1;
  secrets.forEach((secret, i) => {
    if (timingSafeEqual(d, secret) && found < 0) found = i;
  });
  return found;
}

/**
 * HTTP Basic for Bull Board from BOARD_USERNAME/BOARD_PASSWORD; empty = open (loopback only). A request that passes
 * carries its user in `request.boardUser`.
 */
export function basicAuth(username: string, password: string) {
  const expected = username ? [digest(`${username}:${password}`)] : [];
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (expected.length === 0) {
      request.boardUser = ANONYMOUS_BOARD_USER;
      return;
    }
    const encoded = BASIC.exec(request.headers.authorization ?? '')?.[1]?.trim();
    const given = encoded ? Buffer.from(encoded, 'base64').toString('utf8') : '';
    if (given && matchingIndex(given, expected) >= 0) {
      request.boardUser = username;
    } else {
      // Answered here, not thrown: Bull Board's plugin has an error handler of its own that would turn it into a 500.
      const error = new ApiError('unauthorized', 'Bull Board needs valid HTTP Basic credentials');
      await reply.status(error.status).header('www-authenticate', 'Basic realm="fiscal-worker board", charset="UTF-8"').send(error.body());
    }
  };
}
