import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Deadline } from '../domain/enqueue.js';
import { STORE_DEADLINE_MS, storeDeadline } from '../infra/redis.js';

export interface RequestDeadline {
  /** Bounds the request's Redis work: rejects STORE_DEADLINE_MS after arrival. */
  within: Deadline;
  /** Aborts at that deadline, or when the client goes away before its answer: no more reads are started. */
  signal: AbortSignal;
}

declare module 'fastify' {
  interface FastifyRequest {
    deadline: RequestDeadline;
  }
}

/**
 * CONTRACT §3: "503 within 5 seconds of arrival, whatever steps it takes". One deadline per `/v1` request, started when
 * it arrives and handed to every store and read it makes (a duplicate's read-back, a charge's claim and add, a receipt's
 * read), instead of one per step.
 */
export async function attachDeadline(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const hungUp = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) hungUp.abort(new Error('the client closed the connection'));
  });
  const signal = AbortSignal.any([AbortSignal.timeout(STORE_DEADLINE_MS), hungUp.signal]);
  request.deadline = { within: storeDeadline(STORE_DEADLINE_MS, signal), signal };
}
