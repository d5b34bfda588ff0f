import type { Config } from '../config/env.js';
import type { ConfirmationIntake, EnqueueOptions, EnqueueOutcome } from '../domain/enqueue.js';
import { recordId } from '../domain/ids.js';
import type { ConfirmationJobData } from '../domain/jobs.js';
import { fieldProblems } from '../domain/problems.js';
import { isProvider } from '../domain/provider.js';
import type { ProviderQueues } from '../infra/queues.js';
import { UnavailableError, storeDeadline, type RedisClient } from '../infra/redis.js';
import type { Metrics } from '../observability/metrics.js';
import { claim, defineClaimScript, releaseClaims } from './claim-script.js';
import { confirmationSchema, externalIdOf } from './schemas.js';

export interface ProducerDeps {
  config: Readonly<Config>;
  redis: RedisClient;
  queues: ProviderQueues;
  metrics: Metrics;
}

/**
 * The one way confirmations enter the product (API, bulk CLI, tests). A confirmation's record id is derived from
 * provider + payment id, so a repeat is a duplicate (same qr_code) or a conflict (another one) for RETENTION_DAYS.
 */
export class ConfirmationProducer implements ConfirmationIntake {
  private readonly schema;

  constructor(private readonly deps: ProducerDeps) {
    this.schema = confirmationSchema(deps.config);
    defineClaimScript(deps.redis);
  }

  validate(body: unknown): { ok: true; input: ConfirmationJobData } | { ok: false; outcome: EnqueueOutcome } {
    const parsed = this.schema.safeParse(body);
    if (parsed.success) return { ok: true, input: parsed.data };
    const provider = typeof (body as { provider?: unknown })?.provider === 'string' ? (body as { provider: string }).provider : undefined;
    return { ok: false, outcome: { result: 'invalid', provider, problems: fieldProblems(parsed.error) } };
  }

  async enqueue(body: unknown, options: EnqueueOptions = {}): Promise<EnqueueOutcome> {
    const [outcome] = await this.enqueueMany([body], options);
    return outcome!;
  }

  /** Each body gets its own outcome; one bad item never rejects the others. Claims and adds go out pipelined. */
  async enqueueMany(bodies: readonly unknown[], options: EnqueueOptions = {}): Promise<EnqueueOutcome[]> {
    const outcomes: EnqueueOutcome[] = new Array(bodies.length);
    const toAdd = new Map<string, { index: number; input: ConfirmationJobData; id: string }[]>();
    const within = storeDeadline();
    try {
      await within(Promise.all(
        bodies.map(async (body, index) => {
          const checked = this.validate(body);
          if (!checked.ok) {
            outcomes[index] = checked.outcome;
            return;
          }
          const { input } = checked;
          const id = recordId(input.provider, externalIdOf(input));
          const answer = await claim(
            this.deps.redis,
            {
              job: this.deps.queues.jobKey(input.provider, id),
              claim: this.deps.queues.key('claim', id),
              reference: input.reference ? this.deps.queues.key('ref', input.reference) : undefined,
            },
            { fingerprint: input.qr_code, recordId: id, referenceTtlSeconds: this.deps.config.retentionSeconds },
          );
          if (answer.kind === 'exists') {
            const existing = safeParse(answer.data);
            outcomes[index] =
              existing?.qr_code === input.qr_code
                ? { result: 'duplicate', id, provider: input.provider }
                : conflict(id, input.provider);
            return;
          }
          if (answer.kind === 'pending_conflict') {
            outcomes[index] = conflict(id, input.provider);
            return;
          }
          // 'pending': an earlier request claimed it and may have died before adding; the add is idempotent.
          outcomes[index] = { result: answer.kind === 'claimed' ? 'created' : 'duplicate', id, provider: input.provider };
          const group = toAdd.get(input.provider) ?? [];
          group.push({ index, input, id });
          toAdd.set(input.provider, group);
        }),
      ));
      await within(Promise.all(
        [...toAdd].map(([provider, items]) =>
          this.deps.queues
            .get(provider as ConfirmationJobData['provider'])
            .addBulk(items.map(({ input, id }) => ({ name: 'confirm', data: options.links ? { ...input, links: options.links } : input, opts: { jobId: id } }))),
        ),
      ));
    } catch (err) {
      throw new UnavailableError(err);
    }
    releaseClaims(this.deps.redis, [...toAdd.values()].flatMap((items) => items.map(({ id }) => this.deps.queues.key('claim', id))));
    for (const outcome of outcomes) {
      if (outcome.provider && isProvider(outcome.provider)) {
        this.deps.metrics.enqueued.inc({ provider: outcome.provider, result: outcome.result });
      }
    }
    return outcomes;
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

function safeParse(json: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(json) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
