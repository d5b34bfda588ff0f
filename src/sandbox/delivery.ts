import { STATUS_CODES } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DeliveryDirective, Plan } from './faults.js';
import { fiscalBoxError, REJECTED, refusalWords } from './fiscalbox.js';
import { GARBAGE_BODY, MESSAGES } from './fixtures.js';
import { writeJson, writeText } from './respond.js';
import type { Reply, SandboxCall } from './types.js';

/** Turning a plan's faults into bytes on the wire (docs/SANDBOX.md, "Fault injection"). */

export type ErrorStyle = 'fiscalbox' | 'freedompay';

/** Freedom Pay errors: the seed documents none, so a plain `{error: {code, message}}` with the HTTP status. */
export function freedomPayError(status: number, message: string): Reply {
  return { status, body: { error: { code: status, message } } };
}

/** `reject` and `s<status>` answer without any side effect; `undefined` means "go on and do the work". */
export function answerWithoutEffect(plan: Plan, style: ErrorStyle): Reply | undefined {
  const answer = plan.answer;
  if (!answer || answer.kind === 'fail') return undefined;
  if (answer.kind === 'refuse' && style === 'fiscalbox') return fiscalBoxError(answer.code, refusalWords(answer.code));
  if (answer.kind === 'reject' || answer.kind === 'refuse') return style === 'fiscalbox' ? fiscalBoxError(REJECTED, MESSAGES.rejected) : freedomPayError(422, MESSAGES.rejected);
  const reply = freedomPayError(answer.status, STATUS_CODES[answer.status] ?? 'sandbox fault');
  // A 429 always tells the client when to come back; `ra<n>` adds it to any other status too.
  if (answer.status === 429 || plan.retryAfterSeconds !== undefined) reply.headers = { 'retry-after': String(plan.retryAfterSeconds ?? 1) };
  return reply;
}

/**
 * Sends `reply`, or breaks it as the delivery directive says. The body is serialised now, so a slow answer shows the
 * state at the time of the request. Slow timers are unref'd and tracked, so close() neither waits for nor leaks them.
 */
export function deliver(
  req: IncomingMessage,
  res: ServerResponse,
  call: SandboxCall,
  reply: Reply,
  delivery: DeliveryDirective | undefined,
  timers: Set<NodeJS.Timeout>,
): void {
  switch (delivery?.kind) {
    case undefined:
      call.answered = String(reply.status);
      return writeJson(res, reply.status, JSON.stringify(reply.body), reply.headers);
    case 'slow': {
      call.answered = String(reply.status);
      const payload = JSON.stringify(reply.body);
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!res.destroyed) writeJson(res, reply.status, payload, reply.headers);
      }, delivery.ms);
      timer.unref();
      timers.add(timer);
      return;
    }
    case 'garbage':
      call.answered = 'garbage';
      return writeText(res, 200, GARBAGE_BODY, 'text/html');
    case 'reset':
      call.answered = 'reset';
      // RST rather than FIN: the client sees ECONNRESET (or undici's "other side closed"), never an answer.
      req.socket.resetAndDestroy();
      return;
    case 'hang':
      call.answered = 'hang';
      return;
  }
}
