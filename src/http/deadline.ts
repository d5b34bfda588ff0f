import type { FastifyReply, FastifyRequest } from 'fastify';
import { STORE_DEADLINE_MS, StoreDeadline } from '../infra/deadline.js';

declare module 'fastify' {
  interface FastifyRequest {
    deadline: StoreDeadline;
  }
}

/**
 * CONTRACT §3: "503 within 5 seconds of arrival, whatever steps it takes". One deadline per `/v1` request, started when
 * it arrives and handed to every store and read it makes (a duplicate's read-back, a charge's claim and add, a receipt's
 * read), instead of one per step. Once a read asks for its signal, a client that hangs up ends it: the reads it would
 * have waited for are not started.
 */
export function attachDeadline(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  request.deadline = new StoreDeadline(STORE_DEADLINE_MS, (deadline) => endWithResponse(deadline, reply));
  done();
}

function endWithResponse(deadline: StoreDeadline, reply: FastifyReply): void {
  const hungUp = () => deadline.end(new Error('the client closed the connection'));
  if (reply.raw.destroyed && !reply.raw.writableFinished) return hungUp();
  reply.raw.once('close', () => (reply.raw.writableFinished ? deadline.release() : hungUp()));
}
