import type { Queue } from 'bullmq';
import { CALLBACK_QUEUE } from '../callbacks/events.js';
import { PROVIDERS, type Provider } from '../domain/provider.js';
import { providerOfRecordId } from '../domain/ids.js';
import type { ProviderQueues } from '../infra/queues.js';
import type { Logger } from '../observability/logger.js';
import { toRecordView } from '../records/record-view.js';

export interface DeadLetterDeps {
  queues: ProviderQueues;
  logger: Logger;
  /** The result callbacks queue (issue 17): its dead letters replay through the same call, ids `callbacks.…`. */
  callbacks?: Queue;
}

export interface ReplayOptions {
  /** Required for an `ambiguous` dead letter: the provider may already have done it (a Payme Go charge, seed 003). */
  force?: boolean;
}

export type ReplayResult =
  | { id: string; replayed: true }
  | { id: string; replayed: false; reason: 'not_found' | 'not_dead' | 'needs_force'; message: string };

/**
 * Dead-letter operations (CONTRACT §5), shared by the API, the CLI and the board's buttons' semantics. A replay puts the
 * failed job back in wait with its id and history; the processor starts a new run after the history's terminal entry,
 * so the job gets fresh RETRY_ATTEMPTS.
 */
export class DeadLetters {
  constructor(private readonly deps: DeadLetterDeps) {}

  async replayDeadLetter(id: string, options: ReplayOptions = {}): Promise<ReplayResult> {
    const force = options.force ?? false;
    const provider = providerOfRecordId(id);
    if (provider === CALLBACK_QUEUE && this.deps.callbacks) return this.replayCallback(this.deps.callbacks, id);
    if (!(PROVIDERS as readonly string[]).includes(provider)) return { id, replayed: false, reason: 'not_found', message: `no record with id ${id}` };
    const queue = this.deps.queues.get(provider as Provider);
    const job = await queue.getJob(id);
    if (!job) return { id, replayed: false, reason: 'not_found', message: `no record with id ${id}` };
    const state = await job.getState();
    if (state !== 'failed') return { id, replayed: false, reason: 'not_dead', message: `record ${id} is not a dead letter (job state ${state})` };
    const kind = toRecordView(job, state)?.error?.kind;
    if (kind === 'ambiguous' && !force) {
      this.deps.logger.warn({ audit: 'replay_refused', id, force, provider, kind }, 'ambiguous dead letter not replayed without force');
      return {
        id,
        replayed: false,
        reason: 'needs_force',
        message: `record ${id} is ambiguous: the provider may already have done it. Check with the provider, then replay with force`,
      };
    }
    await job.retry('failed', { resetAttemptsMade: true });
    this.deps.logger.info({ audit: 'replay', id, force, provider, kind }, 'dead letter replayed');
    return { id, replayed: true };
  }

  /**
   * A dead callback goes back to wait with its event id and its captured body: the receiver gets the same event again,
   * signed afresh, with a new retry window (callbacks/attempts.ts). A callback never moves money, so no force is needed.
   */
  private async replayCallback(queue: Queue, id: string): Promise<ReplayResult> {
    const job = await queue.getJob(id);
    if (!job) return { id, replayed: false, reason: 'not_found', message: `no callback with id ${id}` };
    const state = await job.getState();
    if (state !== 'failed') return { id, replayed: false, reason: 'not_dead', message: `callback ${id} is not a dead letter (job state ${state})` };
    await job.retry('failed', { resetAttemptsMade: true });
    this.deps.logger.info({ audit: 'replay', id, queue: CALLBACK_QUEUE }, 'dead letter replayed');
    return { id, replayed: true };
  }
}
