import type { Config } from '../config/env.js';
import type { ConfirmationIntake, EnqueueOptions, EnqueueOutcome, HoldOptions } from '../domain/enqueue.js';
import { recordId } from '../domain/ids.js';
import type { ConfirmationJobData, ConfirmationRequest } from '../domain/jobs.js';
import { fieldProblems, type FieldProblem } from '../domain/problems.js';
import { isProvider } from '../domain/provider.js';
import { normalizeQrCode } from '../domain/qr.js';
import type { QueueRef } from '../infra/layout.js';
import type { ProviderQueues } from '../infra/queues.js';
import { storeDeadline } from '../infra/deadline.js';
import { UnavailableError } from '../infra/redis.js';
import { countEnqueued, type Metrics } from '../observability/metrics.js';
import { referenceIndexKey } from '../records/indexes.js';
import { confirmationSchema, externalIdOf } from './schemas.js';
import { confirmAll } from './confirm-script.js';
import { addJobTo, runTransaction } from './transaction.js';

export interface ProducerDeps {
  config: Readonly<Config>;
  queues: ProviderQueues;
  metrics: Metrics;
}

interface Accepted {
  index: number;
  id: string;
  input: ConfirmationRequest;
  data: ConfirmationJobData;
  ref: QueueRef;
}

/**
 * The one way confirmations enter the product (API, bulk CLI, the charge → confirm chain). A confirmation's record id
 * is derived from provider + payment id, so a repeat is a duplicate (same qr_code) or a conflict (another one) for
 * RETENTION_DAYS.
 *
 * One round trip per queue slot, whatever the number of items (issue 18): per item, one script reads the record's
 * existing data and, only if there is none, writes the reference index and runs BullMQ's own add, atomically
 * (producers/confirm-script.ts). The read tells created from duplicate and conflict; no claim key is needed, and two
 * racing requests never both answer "created" because the second script runs after the first.
 */
export class ConfirmationProducer implements ConfirmationIntake {
  private readonly schema;

  constructor(private readonly deps: ProducerDeps) {
    this.schema = confirmationSchema(deps.config);
  }

  validate(body: unknown): { ok: true; input: ConfirmationRequest } | { ok: false; outcome: EnqueueOutcome } {
    const parsed = this.schema.safeParse(body);
    if (parsed.success) return { ok: true, input: parsed.data };
    const provider = typeof (body as { provider?: unknown })?.provider === 'string' ? (body as { provider: string }).provider : undefined;
    return { ok: false, outcome: { result: 'invalid', provider, problems: fieldProblems(parsed.error) } };
  }

  /** One confirmation (a single POST): enqueueMany's steps without its grouping, which one item does not need. */
  async enqueue(body: unknown, options: EnqueueOptions = {}): Promise<EnqueueOutcome> {
    const checked = this.validate(body);
    if (!checked.ok) {
      this.count([checked.outcome]);
      return checked.outcome;
    }
    const outcomes = new Array<EnqueueOutcome>(1);
    const item = this.accept(0, checked.input, options.links);
    await this.store(options, this.addAll(item.ref, [item], outcomes));
    this.count(outcomes);
    return outcomes[0]!;
  }

  revalidate(body: unknown): { ok: true; data: Record<string, unknown> } | { ok: false; problems: FieldProblem[] } {
    const checked = this.validate(body);
    if (!checked.ok) return { ok: false, problems: checked.outcome.result === 'invalid' ? checked.outcome.problems : [] };
    return { ok: true, data: jobData(checked.input, undefined) };
  }

  /**
   * A held confirmation (the charge → confirm chain could not make a valid one, issue 15): a job of the provider's
   * queue carrying what was known and why it was refused; its processor ends it dead at once, and a replay validates
   * it again. Its id is the payment's when there is one, so a repeat of the chain finds it; else it names the record
   * it was held for.
   */
  async hold(body: Record<string, unknown>, options: HoldOptions): Promise<{ id: string }> {
    const provider = typeof body.provider === 'string' && isProvider(body.provider) ? body.provider : undefined;
    if (!provider) throw new Error(`cannot hold a confirmation for provider ${String(body.provider)}`);
    const paymentId = typeof body.payment_id === 'string' && body.payment_id ? body.payment_id : undefined;
    const id = recordId(provider, paymentId ?? `held-for-${options.heldFor}`);
    const ref = this.deps.queues.layout.queueOfRecord(id)!;
    const queue = this.deps.queues.queue(ref);
    const { provider: _provider, ...fields } = body;
    const data = { ...fields, links: options.links, held: { problems: options.problems } };
    await runTransaction(this.deps.queues, queue, (tx) => addJobTo(tx, queue, 'confirm', data, id));
    return { id };
  }

  /** Each body gets its own outcome; one bad item never rejects the others. */
  async enqueueMany(bodies: readonly unknown[], options: EnqueueOptions = {}): Promise<EnqueueOutcome[]> {
    const outcomes: EnqueueOutcome[] = new Array(bodies.length);
    const bySlot = new Map<string, Accepted[]>();
    for (let index = 0; index < bodies.length; index++) {
      const checked = this.validate(bodies[index]);
      if (!checked.ok) {
        outcomes[index] = checked.outcome;
        continue;
      }
      const item = this.accept(index, checked.input, options.links);
      const items = bySlot.get(item.ref.name);
      if (items) items.push(item);
      else bySlot.set(item.ref.name, [item]);
    }
    const groups = [...bySlot.values()];
    if (groups.length > 0) await this.store(options, Promise.all(groups.map((items) => this.addAll(items[0]!.ref, items, outcomes))));
    this.count(outcomes);
    return outcomes;
  }

  private accept(index: number, input: ConfirmationRequest, links: Record<string, string> | undefined): Accepted {
    const id = recordId(input.provider, externalIdOf(input));
    return { index, id, input, data: jobData(input, links), ref: this.deps.queues.layout.queueOfRecord(id)! };
  }

  /** The intake's Redis work under the request's deadline; any failure of it is "unavailable" (503). */
  private async store(options: EnqueueOptions, work: Promise<unknown>): Promise<void> {
    try {
      await (options.within ?? storeDeadline())(work);
    } catch (err) {
      throw err instanceof UnavailableError ? err : new UnavailableError(err);
    }
  }

  private count(outcomes: readonly EnqueueOutcome[]): void {
    for (const outcome of outcomes) {
      if (outcome.provider && isProvider(outcome.provider)) countEnqueued(this.deps.metrics, outcome.provider, outcome.result);
    }
  }

  /** One script per item, in one round trip for the items of one queue (producers/confirm-script.ts). */
  private async addAll(ref: QueueRef, items: readonly Accepted[], outcomes: EnqueueOutcome[]): Promise<void> {
    const { queues, config } = this.deps;
    const replies = await confirmAll(
      queues,
      ref,
      items.map(({ id, data }) => ({ id, data, ...(data.reference ? { indexKey: referenceIndexKey(queues.layout, ref, data.reference) } : {}) })),
      Date.now(),
      config.retentionSeconds,
    );
    items.forEach(({ index, id, input }, i) => {
      const reply = replies[i]!;
      if (reply.added) outcomes[index] = { result: 'created', id, provider: input.provider };
      else outcomes[index] = sameQr(reply.existingData, input.qr_code) ? { result: 'duplicate', id, provider: input.provider } : conflict(id, input.provider);
    });
  }
}

/** The queue says which provider a job is for; the job data keeps only what the call and the record need. */
function jobData(input: ConfirmationRequest, links: Record<string, string> | undefined): ConfirmationJobData {
  const { provider: _provider, ...rest } = input;
  return links ? { ...rest, links } : rest;
}

/**
 * `qrCode` is in its normalized form (domain/qr.ts); the stored one is compared as parsed too, so a record accepted
 * before the normalization (issue 19) still answers a repeat as a duplicate, not a conflict.
 */
function sameQr(existingData: string, qrCode: string): boolean {
  try {
    const stored = (JSON.parse(existingData) as { qr_code?: unknown }).qr_code;
    return typeof stored === 'string' && (stored === qrCode || normalizeQrCode(stored) === qrCode);
  } catch {
    return false;
  }
}

function conflict(id: string, provider: string): EnqueueOutcome {
  return {
    result: 'conflict',
    id,
    provider,
    message: `${provider} payment ${id} was already accepted with a different qr_code; a payment has one fiscal receipt`,
  };
}
