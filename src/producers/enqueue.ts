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
import type { Metrics } from '../observability/metrics.js';
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

  async enqueue(body: unknown, options: EnqueueOptions = {}): Promise<EnqueueOutcome> {
    const [outcome] = await this.enqueueMany([body], options);
    return outcome!;
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
    const bySlot = new Map<string, { ref: QueueRef; items: Accepted[] }>();
    for (let index = 0; index < bodies.length; index++) {
      const checked = this.validate(bodies[index]);
      if (!checked.ok) {
        outcomes[index] = checked.outcome;
        continue;
      }
      const id = recordId(checked.input.provider, externalIdOf(checked.input));
      const ref = this.deps.queues.layout.queueOfRecord(id)!;
      let group = bySlot.get(ref.name);
      if (!group) bySlot.set(ref.name, (group = { ref, items: [] }));
      group.items.push({ index, id, input: checked.input, data: jobData(checked.input, options.links) });
    }
    const within = options.within ?? storeDeadline();
    try {
      const groups = [...bySlot.values()];
      // One queue slot (a single POST, most batches of one provider): no Promise.all around one round trip.
      if (groups.length === 1) await within(this.addAll(groups[0]!.ref, groups[0]!.items, outcomes));
      else if (groups.length > 1) await within(Promise.all(groups.map(({ ref, items }) => this.addAll(ref, items, outcomes))));
    } catch (err) {
      throw err instanceof UnavailableError ? err : new UnavailableError(err);
    }
    for (const outcome of outcomes) {
      if (outcome.provider && isProvider(outcome.provider)) this.deps.metrics.enqueued.inc({ provider: outcome.provider, result: outcome.result });
    }
    return outcomes;
  }

  /** One script per item, in one round trip for the items of one queue (producers/confirm-script.ts). */
  private async addAll(ref: QueueRef, items: Accepted[], outcomes: EnqueueOutcome[]): Promise<void> {
    const { queues, config } = this.deps;
    const replies = await confirmAll(
      queues,
      queues.queue(ref),
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
