import type { Provider } from '../domain/provider.js';
import type { ProviderQueues } from '../infra/queues.js';
import { UnavailableError, storeDeadline, type RedisClient } from '../infra/redis.js';
import { claim, releaseClaims } from './claim-script.js';
import type { EnqueueOutcome } from '../domain/enqueue.js';

export interface FingerprintedJob {
  provider: Provider;
  id: string;
  name: string;
  /** Job data; carries its `fingerprint` so a repeat can be compared with what was accepted. */
  data: { fingerprint: string };
  conflictMessage: string;
}

/**
 * One record keyed by something other than its body (an Idempotency-Key, a sale): the same fingerprint is a duplicate,
 * another one a conflict (Payme Go, Freedom Pay). Claim, compare, add, release, under one deadline (CONTRACT §3:
 * 503 within 5 s); BullMQ's add is idempotent on the id, so a claim left by a request that died is completed here.
 */
export async function enqueueFingerprinted(deps: { redis: RedisClient; queues: ProviderQueues; retentionSeconds: number }, job: FingerprintedJob): Promise<EnqueueOutcome> {
  const { redis, queues } = deps;
  const { provider, id, data } = job;
  const conflict: EnqueueOutcome = { result: 'conflict', id, provider, message: job.conflictMessage };
  const within = storeDeadline();
  try {
    const claimKey = queues.key('claim', id);
    const answer = await within(
      claim(redis, { job: queues.jobKey(provider, id), claim: claimKey }, { fingerprint: data.fingerprint, recordId: id, referenceTtlSeconds: deps.retentionSeconds }),
    );
    if (answer.kind === 'exists') return fingerprintOf(answer.data) === data.fingerprint ? { result: 'duplicate', id, provider } : conflict;
    if (answer.kind === 'pending_conflict') return conflict;
    await within(queues.get(provider).add(job.name, data, { jobId: id }));
    releaseClaims(redis, [claimKey]);
    return { result: answer.kind === 'claimed' ? 'created' : 'duplicate', id, provider };
  } catch (err) {
    throw new UnavailableError(err);
  }
}

function fingerprintOf(json: string): unknown {
  try {
    return (JSON.parse(json) as { fingerprint?: unknown }).fingerprint;
  } catch {
    return undefined;
  }
}
