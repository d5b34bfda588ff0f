import { ENDPOINTS, type Endpoint } from './types.js';
import { BoundedMap, DEFAULT_MAX_RECORDS } from './limits.js';

/**
 * Fault directives (docs/SANDBOX.md). A request's key (its payment id, transaction id or Payme Go code) is split on
 * `_`; every leading token that parses as a directive is one, the rest is the id. Keys that cannot carry directives
 * (numeric codes, integer payment ids) get them from `program(key, "…")`, same grammar.
 */

/**
 * Decides what the answer is; `reject`, `e<code>` and `status` skip the side effect. `e<code>` is a FiscalBox refusal
 * with that error code, worded as FiscalBox words it live (../shared/fiscalbox-live.md).
 */
export type AnswerDirective = { kind: 'reject' } | { kind: 'fail' } | { kind: 'status'; status: number } | { kind: 'refuse'; code: number };
/** Decides how the answer travels; the side effect has already happened. */
export type DeliveryDirective = { kind: 'slow'; ms: number } | { kind: 'garbage' } | { kind: 'reset' } | { kind: 'hang' };
/** `times`: active for the first n counted calls of the key on the endpoint; undefined = every call. */
export type CountedDirective = (AnswerDirective | DeliveryDirective) & { times: number | undefined };
export type Directive = CountedDirective | { kind: 'retry_after'; seconds: number } | { kind: 'pending'; reads: number } | { kind: 'live' };

export interface Plan {
  answer: AnswerDirective | undefined;
  delivery: DeliveryDirective | undefined;
  /** `ra<seconds>`; 429 answers default to 1 s without it. */
  retryAfterSeconds: number | undefined;
  /** `pending<n>` (Freedom Pay): reads that answer pending before the receipt settles. */
  pendingReads: number | undefined;
  /** `live`: FiscalBox successes in the form they take live, with the nulls the seeds do not show. */
  live: boolean;
}

export const NO_FAULT: Plan = Object.freeze({ answer: undefined, delivery: undefined, retryAfterSeconds: undefined, pendingReads: undefined, live: false });

const COUNTED = /^(?:(reject|fail|garbage|reset|hang)|s([45]\d\d)|slow(\d+)|e(\d{1,4}))(?:x(\d+))?$/;
const RETRY_AFTER = /^ra(\d+)$/;
const PENDING = /^pending(\d+)$/;

export function parseDirective(token: string): Directive | undefined {
  const counted = COUNTED.exec(token);
  if (counted) {
    const [, word, status, slowMs, errorCode, times] = counted;
    const t = times === undefined ? undefined : Number(times);
    if (status !== undefined) return { kind: 'status', status: Number(status), times: t };
    if (slowMs !== undefined) return { kind: 'slow', ms: Number(slowMs), times: t };
    if (errorCode !== undefined) return { kind: 'refuse', code: Number(errorCode), times: t };
    return { kind: word as 'reject' | 'fail' | 'garbage' | 'reset' | 'hang', times: t };
  }
  const ra = RETRY_AFTER.exec(token);
  if (ra) return { kind: 'retry_after', seconds: Number(ra[1]) };
  const pending = PENDING.exec(token);
  if (pending) return { kind: 'pending', reads: Number(pending[1]) };
  if (token === 'live') return { kind: 'live' };
  return undefined;
}

/** Leading directive tokens of an id: `s503x2_abc123` → [s503x2]; `696e0246…` → []. */
export function directivesInKey(key: string): Directive[] {
  const out: Directive[] = [];
  let start = 0;
  for (;;) {
    const end = key.indexOf('_', start);
    const directive = parseDirective(end === -1 ? key.slice(start) : key.slice(start, end));
    if (!directive) return out;
    out.push(directive);
    if (end === -1) return out;
    start = end + 1;
  }
}

/** A programmed list must parse completely: a typo there is a test bug, not part of an id. */
export function parseDirectiveList(text: string): Directive[] {
  if (text.trim() === '') return [];
  return text.split('_').map((token) => {
    const directive = parseDirective(token.trim());
    if (!directive) throw new Error(`unknown sandbox directive "${token}" (see docs/SANDBOX.md)`);
    return directive;
  });
}

/** For call number `callNo` (1-based): the first active directive of each group wins, in the order written. */
export function planCall(directives: readonly Directive[], callNo: number): Plan {
  let answer: AnswerDirective | undefined;
  let delivery: DeliveryDirective | undefined;
  let retryAfterSeconds: number | undefined;
  let pendingReads: number | undefined;
  let live = false;
  for (const d of directives) {
    if (d.kind === 'retry_after') retryAfterSeconds ??= d.seconds;
    else if (d.kind === 'pending') pendingReads ??= d.reads;
    else if (d.kind === 'live') live = true;
    else if (d.times === undefined || callNo <= d.times) {
      if (d.kind === 'reject' || d.kind === 'fail' || d.kind === 'status' || d.kind === 'refuse') answer ??= d;
      else delivery ??= d;
    }
  }
  // garbage/reset/hang break an answer to work that was done; a reject or s<status> call does no work, so it wins
  // over them (slow still delays it). This lets counts chain: s503x1_resetx2 = 503, then reset, then success.
  if (delivery && delivery.kind !== 'slow' && answer && answer.kind !== 'fail') delivery = undefined;
  return { answer, delivery, retryAfterSeconds, pendingReads, live };
}

/** Programmed directives and per (endpoint, key) call counters. */
export class FaultBook {
  readonly #programs = new Map<string, Directive[]>();
  // Only keys that carry directives are counted, but under demo traffic that is every other key: the newest
  // `maxRecords` (limits.ts); a key forgotten since counts from 1 again.
  readonly #counts: BoundedMap<string, number>;

  constructor(maxRecords = DEFAULT_MAX_RECORDS) {
    this.#counts = new BoundedMap(maxRecords);
  }

  /** Replaces the key's programmed directives and restarts its counters, so `x<n>` counts from now. */
  program(key: string, directives: string): void {
    const parsed = parseDirectiveList(directives);
    if (parsed.length === 0) this.#programs.delete(key);
    else this.#programs.set(key, parsed);
    for (const endpoint of ENDPOINTS) this.#counts.delete(counterKey(endpoint, key));
  }

  /** Counts one call and returns its plan. Keys without directives are not counted (benchmarks use millions). */
  next(endpoint: Endpoint, key: string): Plan {
    const inline = directivesInKey(key);
    const programmed = this.#programs.get(key);
    if (inline.length === 0 && !programmed) return NO_FAULT;
    const ck = counterKey(endpoint, key);
    const callNo = (this.#counts.get(ck) ?? 0) + 1;
    this.#counts.set(ck, callNo);
    return planCall(programmed ? [...inline, ...programmed] : inline, callNo);
  }

  reset(): void {
    this.#programs.clear();
    this.#counts.clear();
  }
}

function counterKey(endpoint: Endpoint, key: string): string {
  return `${endpoint}\u0000${key}`;
}
