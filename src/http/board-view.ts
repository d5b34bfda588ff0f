import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { QueueAdapterOptions, QueueJobJson } from '@bull-board/api/typings/app';
import { decodeAttempts } from '../domain/attempt.js';
import { maskPersonalData } from '../domain/personal-data.js';
import { providerOfRecordId } from '../domain/ids.js';
import type { CatalogQueue, QueueKind } from '../operations/queue-catalog.js';
import { findSpec } from '../providers/index.js';
import type { QueuePolicy } from './board-policy.js';

interface KindView {
  one: string;
  many: string;
  /** Where the API serves a record of this kind (CONTRACT §3). */
  recordPath: string;
  description: string;
}

const DEAD_LETTERS = 'Failed = dead letters: the reason is in each job’s title; its Error tab lists every provider call (newest first) with the provider’s answer.';

const KIND_VIEWS: Readonly<Record<QueueKind, KindView>> = {
  confirmation: {
    one: 'confirmation',
    many: 'confirmations',
    recordPath: '/v1/confirmations',
    description: `${DEAD_LETTERS} Retry replays one (or all) through the normal flow with fresh attempts and the same id.`,
  },
  payment: {
    one: 'charge',
    many: 'charges',
    recordPath: '/v1/payments',
    description: `View only. ${DEAD_LETTERS} A charge is replayed only through POST /v1/dead-letters/replay or fiscal-worker dead replay, with force when ambiguous. The customer’s Payme code is masked.`,
  },
  callback: {
    one: 'callback',
    many: 'callbacks',
    recordPath: '',
    description: `Failed = dead callbacks (the receiver kept refusing until CALLBACK_RETRY_HOURS passed, or answered 410): every delivery attempt is in the job. Retry sends the same event again (same event id and body).`,
  },
  receipt: {
    one: 'receipt',
    many: 'receipts',
    recordPath: '/v1/receipts',
    description: `${DEAD_LETTERS} Retry looks the receipt up at Freedom Pay before creating it again, so it never makes a second one; an ambiguous create needs force (API or CLI).`,
  },
};

/** Where the API serves the record a job is about: the job's own, or for a callback the record it reports. */
function recordPath(id: string, data: unknown): string | undefined {
  const recordId = providerOfRecordId(id) === 'callbacks' ? (data as { record_id?: unknown } | null)?.record_id : id;
  if (typeof recordId !== 'string') return undefined;
  const kind = findSpec(providerOfRecordId(recordId))?.kind;
  return kind ? `${KIND_VIEWS[kind].recordPath}/${encodeURIComponent(recordId)}` : undefined;
}

/** The Bull Board adapter of one queue: its policy's switches, its names, and how its jobs are shown. */
export function boardAdapter(entry: CatalogQueue, policy: QueuePolicy): BullMQAdapter {
  const { queue } = entry;
  const view = KIND_VIEWS[policy.kind];
  const shard = entry.name === entry.owner ? '' : ` (${entry.name})`;
  const provider = `${entry.title}${shard}`;
  const options: Partial<QueueAdapterOptions> & { allowCompletedRetries: boolean } = {
    displayName: entry.kind === 'callback' ? provider : `${provider} ${view.many}`,
    description: `${entry.kind === 'callback' ? provider : `${provider} ${view.many}`}. ${view.description}`,
    readOnlyMode: policy.readOnlyMode,
    allowRetries: policy.allowRetries,
    // A finished job is not a dead letter: the shared replay path refuses it, so the board does not offer it.
    // (Read by bull-board's BaseAdapter, missing from the BullMQAdapter's option type.)
    allowCompletedRetries: false,
    externalJobUrl: (job) => {
      const href = recordPath(String(job.id), job.data);
      return href ? { href, displayText: 'API record' } : { href: '', displayText: '' };
    },
  };
  const adapter = new BullMQAdapter(queue, options);
  adapter.setFormatter('name', (job: QueueJobJson) => jobTitle(`${provider} ${view.one}`, job));
  // Payme Go keeps the customer's Payme code on the job to charge it (seed 003), and its answer echoes it; phone
  // numbers are masked when stored, and again here in case a job predates that.
  adapter.setFormatter('data', (data: unknown) => maskPersonalData(data));
  adapter.setFormatter('returnValue', (value: unknown) => maskPersonalData(value));
  adapter.setFormatter('progress', (progress: unknown) => maskPersonalData(progress));
  return adapter;
}

/**
 * A job's title: what it is, and while its last attempt failed, why (the dead letter's reason: class, code and the
 * provider's message, written by the worker), so a dead letter reads at a glance in the list. BullMQ drops
 * `failedReason` when a job is retried, and a succeeded job has a return value: neither shows a stale failure.
 */
export function jobTitle(what: string, job: Pick<QueueJobJson, 'failedReason' | 'returnvalue'>): string {
  if (!job.failedReason || job.returnvalue != null) return what;
  return `${what} · ${job.failedReason}`;
}

/**
 * The Error tab shows a job's stack traces, which are our attempt entries as JSON (domain/attempt.ts): each becomes a
 * line an operator reads without parsing (time, HTTP status, class, code, message, latency), with the provider's
 * answer below it. Entries that are not ours (BullMQ's own, e.g. a stalled job) are left as they are.
 */
export function describeAttempt(raw: string): string {
  const [entry] = decodeAttempts([raw]);
  if (!entry || entry.code === 'worker_error') return raw;
  const status = typeof entry.http_status === 'number' ? `HTTP ${entry.http_status}` : entry.http_status;
  const parts = [entry.at, status, [entry.class, entry.code].filter(Boolean).join(' ')];
  if (entry.message) parts.push(entry.message);
  parts.push(`${entry.latency_ms} ms`);
  if (entry.uncounted) parts.push('circuit open: no attempt spent');
  if (entry.terminal) parts.push('ended the run');
  const answer = entry.provider_response === undefined ? '' : `\n    provider answer: ${JSON.stringify(maskPersonalData(entry.provider_response))}`;
  return `${parts.join(' · ')}${answer}`;
}

type JobsBody = { queues?: { jobs?: { stacktrace?: string[] }[] }[]; job?: { stacktrace?: string[] } | null };

/** bull-board's `after` hook: rewrites the stack traces of the jobs in the queue list and job answers. */
export function readableAttempts<T extends { body: unknown }>(result: T): T {
  const body = result.body as JobsBody | undefined;
  const jobs = [...(body?.queues ?? []).flatMap((q) => q.jobs ?? []), ...(body?.job ? [body.job] : [])];
  for (const job of jobs) if (Array.isArray(job.stacktrace)) job.stacktrace = job.stacktrace.map(describeAttempt);
  return result;
}
