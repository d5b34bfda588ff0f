import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Compares digests, so neither the length nor the content of a configured secret leaks through timing. */
function matchesAny(candidate: string, secrets: readonly Buffer[]): boolean {
  const d = digest(candidate);
  let matched = false;
  for (const secret of secrets) matched = timingSafeEqual(d, secret) || matched;
  return matched;
}

/** RFC 9110 §11.1: auth scheme names are case-insensitive (CONTRACT §3: `Bearer` in any case). */
const BEARER = /^bearer[ \t]+(.+)$/i;
const BASIC = /^basic[ \t]+(.+)$/i;

/** `Authorization: Bearer <token>` against API_TOKENS; several tokens so one can be rotated out. Empty = open (loopback only). */
export function bearerAuth(tokens: readonly string[]) {
  const secrets = tokens.map(digest);
  return async (request: FastifyRequest): Promise<void> => {
    if (secrets.length === 0) return;
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1]?.trim() ?? '';
    if (!token || !matchesAny(token, secrets)) {
      throw new ApiError('unauthorized', token ? 'the bearer token is not valid' : 'missing Authorization: Bearer <token>');
    }
  };
}

/** HTTP Basic for Bull Board from BOARD_USERNAME/BOARD_PASSWORD; empty = open (loopback only). */
export function basicAuth(username: string, password: string) {
  const expected = username ? [digest(`${username}:${password}`)] : [];
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (expected.length === 0) return;
    const encoded = BASIC.exec(request.headers.authorization ?? '')?.[1]?.trim();
    const given = encoded ? Buffer.from(encoded, 'base64').toString('utf8') : '';
    if (!given || !matchesAny(given, expected)) {
      // Answered here, not thrown: Bull Board's plugin has an error handler of its own that would turn it into a 500.
      const error = new ApiError('unauthorized', 'Bull Board needs valid HTTP Basic credentials');
      await reply.status(error.status).header('www-authenticate', 'Basic realm="fiscal-worker board", charset="UTF-8"').send(error.body());
    }
  };
}
