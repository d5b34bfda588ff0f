import type { Job } from 'bullmq';
import { providerOfRecordId } from '../domain/ids.js';
import type { PaymentJobData, ReceiptJobData } from '../domain/jobs.js';
import type { Provider } from '../domain/provider.js';
import type { RecordState } from '../domain/record.js';
import { receiptTotals } from '../domain/receipt-totals.js';
import type { Layout, QueueRef } from '../infra/layout.js';
import type { RedisClient } from '../infra/redis.js';
import { findSpec } from '../providers/index.js';
import type { RecordView } from './record-view.js';

/**
 * What a money record leaves behind once its job is gone (issue 15, CONTRACT §2 IDEMPOTENCY_DAYS): a small hash per
 * Payme Go Idempotency-Key and per Freedom Pay payment_id + operation_type, so a repeat long after RETENTION_DAYS
 * answers what happened instead of charging or creating again. Written when the request is accepted (state `claimed`,
 * then `queued` in the same transaction as the job's add, producers/money-intake.ts), when the job ends (its final
 * state), and again when an operator removes a dead letter (operations/dead-letters.ts: a dead letter may outlive the
 * tombstone of its end); it expires RETENTION_DAYS + IDEMPOTENCY_DAYS after its last write, in the queue's slot.
 *
 * Fields: `fp` the request's fingerprint, `state`, `at` accepted (ms), `fin` finished (ms), `sum` the amount (sums) or
 * the receipt's total (tiyins).
 */
export interface Tombstone {
  fp: string;
  state: 'claimed' | 'queued' | 'succeeded' | 'dead';
  at: number;
  fin?: number;
  sum?: number;
}

export function tombstoneKey(layout: Layout, ref: QueueRef, recordId: string): string {
  return layout.key(ref, 'tomb', recordId);
}

/** Seconds a tombstone lives after its last write. */
export function tombstoneSeconds(config: { retentionSeconds: number; idempotencySeconds: number }): number {
  return config.retentionSeconds + config.idempotencySeconds;
}

/** `HGETALL` as a tombstone; undefined for none (or one this code did not write). */
export function readTombstone(fields: Record<string, string> | string[] | null | undefined): Tombstone | undefined {
  const map = Array.isArray(fields) ? Object.fromEntries(pairs(fields)) : (fields ?? {});
  const { fp, state, at, fin, sum } = map;
  if (!fp || !state || !['claimed', 'queued', 'succeeded', 'dead'].includes(state)) return undefined;
  return { fp, state: state as Tombstone['state'], at: Number(at ?? 0), ...(fin ? { fin: Number(fin) } : {}), ...(sum !== undefined ? { sum: Number(sum) } : {}) };
}

/** What the tombstone of a money job records as its size: a charge's amount, a receipt's total in tiyins. */
export function moneySummary(provider: Provider, data: unknown): number | undefined {
  const kind = findSpec(provider)?.kind;
  if (kind === 'payment') return (data as PaymentJobData).amount;
  if (kind === 'receipt') return receiptTotals(data as ReceiptJobData).settlements;
  return undefined;
}

/** At a money job's end: its final state, so a repeat after the job is gone answers it (off the hot path). */
export async function recordTombstone(redis: RedisClient, key: string, job: Job, state: 'succeeded' | 'dead', seconds: number): Promise<void> {
  const data = job.data as { fingerprint?: string };
  if (!data.fingerprint) return;
  const sum = moneySummary(providerOfRecordId(job.id!) as Provider, job.data);
  const fields: (string | number)[] = ['fp', data.fingerprint, 'state', state, 'at', job.timestamp, 'fin', job.finishedOn ?? Date.now()];
  if (sum !== undefined) fields.push('sum', sum);
  await redis.multi().hset(key, ...fields).expire(key, seconds).exec();
}

/** The record as its tombstone knows it: state, size and times; everything else went with the job. */
export function tombstoneView(id: string, tombstone: Tombstone): RecordView {
  const provider = providerOfRecordId(id);
  const state: RecordState = tombstone.state === 'claimed' || tombstone.state === 'queued' ? 'queued' : tombstone.state;
  const view: RecordView = {
    id,
    provider,
    state,
    attempts: null as unknown as number,
    created_at: new Date(tombstone.at).toISOString(),
    finished_at: tombstone.fin ? new Date(tombstone.fin).toISOString() : null,
    result: null,
    error: null,
    reference: null,
    history: [],
    expired: true,
  };
  if (tombstone.sum !== undefined) view[findSpec(provider)?.kind === 'payment' ? 'amount' : 'total_minor'] = tombstone.sum;
  return view;
}

function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}
