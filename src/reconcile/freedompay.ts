import type { Job } from 'bullmq';
import { recordId, saleKey } from '../domain/ids.js';
import type { ReceiptJobData } from '../domain/jobs.js';
import { formatMinorUnits, roundToMinorUnits, toMinorUnits } from '../domain/money.js';
import type { ProviderQueues } from '../infra/queues.js';
import { classifyReceiptList, receiptIdOf, receiptSale, type FreedomPayClient, type ReceiptObject } from '../providers/freedompay.js';
import { onlySpecOfKind } from '../providers/index.js';

const RECEIPT = onlySpecOfKind('receipt');

/** A receipt listed by the provider, read as far as reconciling needs; receipts without a sale cannot be matched. */
interface ProviderReceipt {
  payment_id: string;
  operation_type: string;
  receipt_id: string;
  status: string;
  /** Minor units; undefined when the provider's total is not a number. */
  total: number | undefined;
}

function readReceipt(receipt: ReceiptObject): ProviderReceipt | undefined {
  const sale = receiptSale(receipt);
  if (!sale) return undefined;
  return {
    ...sale,
    receipt_id: receiptIdOf(receipt) ?? '',
    status: typeof receipt.status === 'string' ? receipt.status : String(receipt.status ?? ''),
    total: typeof receipt.total === 'number' ? roundToMinorUnits(receipt.total) : undefined,
  };
}

const formatTotal = (minor: number | undefined) => (minor === undefined ? 'unknown' : formatMinorUnits(minor));

/**
 * `fiscal-worker reconcile freedompay`: the provider's receipts of a period side by side with the local records
 * (CONTRACT §1), matched on payment_id + operation_type, the key of a record (one sale, one receipt). Days are UTC on
 * both sides. Local records are the freedompay queue's jobs, so a completed one is only known for RETENTION_DAYS.
 */

export type Difference =
  | { kind: 'missing_locally'; payment_id: string; operation_type: string; receipt_id: string; status: string; total: string }
  | { kind: 'missing_at_provider'; record_id: string; payment_id: string; operation_type: string; state: string; total: string }
  | { kind: 'total_mismatch'; record_id: string; receipt_id: string; payment_id: string; operation_type: string; local_total: string; provider_total: string }
  | { kind: 'duplicate_at_provider'; record_id: string; payment_id: string; operation_type: string; receipt_ids: string[] };

export interface ReconcileReport {
  provider: string;
  from: string;
  to: string;
  provider_receipts: number;
  local_records: number;
  differences: Difference[];
}

export interface ReconcileDeps {
  client: FreedomPayClient;
  queues: ProviderQueues;
  /** One line of progress (stderr in the CLI). */
  progress(line: string): void;
}

export class ReconcileError extends Error {}

interface LocalRecord {
  record_id: string;
  payment_id: string;
  operation_type: string;
  state: string;
  total: number; // minor units
}

const PAGE = 100;
const MAX_PAGES = 10_000;
const LIST_TRIES = 3;
const JOB_PAGE = 500;
// Every state a freedompay job can be in, and what the record calls it (CONTRACT §3).
const JOB_STATES = { completed: 'succeeded', failed: 'dead', active: 'active', delayed: 'queued', waiting: 'queued', prioritized: 'queued' } as const;

const keyOf = (paymentId: string | number, operationType: string) => `${operationType}\u0000${String(paymentId)}`;

export async function reconcileFreedomPay(deps: ReconcileDeps, from: string, to: string): Promise<ReconcileReport> {
  const remote = await listReceipts(deps, { from, to });
  deps.progress(`provider: ${remote.length} receipts from ${from} to ${to}`);
  const local = await readLocalRecords(deps.queues, (day) => day >= from && day <= to);
  const localInPeriod = local.size;
  deps.progress(`local: ${localInPeriod} records created from ${from} to ${to}`);

  const byKey = new Map<string, ProviderReceipt[]>();
  for (const receipt of remote) {
    const key = keyOf(receipt.payment_id, receipt.operation_type);
    byKey.set(key, [...(byKey.get(key) ?? []), receipt]);
  }
  // Either side may have the sale just across the period's edge: look the other one up before calling it missing.
  for (const key of byKey.keys()) if (!local.has(key)) await addLocalRecord(deps.queues, byKey.get(key)![0]!, local);
  for (const [key, record] of local) {
    if (byKey.has(key)) continue;
    const found = await listReceipts(deps, { paymentId: record.payment_id });
    const same = found.filter((r) => keyOf(r.payment_id, r.operation_type) === key);
    if (same.length) byKey.set(key, same);
  }
  return { provider: RECEIPT.name, from, to, provider_receipts: remote.length, local_records: localInPeriod, differences: compare(byKey, local) };
}

function compare(byKey: Map<string, ProviderReceipt[]>, local: Map<string, LocalRecord>): Difference[] {
  const differences: Difference[] = [];
  for (const [key, receipts] of byKey) {
    const record = local.get(key);
    if (!record) {
      for (const r of receipts) {
        differences.push({ kind: 'missing_locally', payment_id: String(r.payment_id), operation_type: r.operation_type, receipt_id: r.receipt_id, status: r.status, total: formatTotal(r.total) });
      }
      continue;
    }
    const live = receipts.filter((r) => r.status !== 'failed');
    const { record_id, payment_id, operation_type } = record;
    if (live.length > 1) differences.push({ kind: 'duplicate_at_provider', record_id, payment_id, operation_type, receipt_ids: live.map((r) => r.receipt_id) });
    const receipt = live[0] ?? receipts[0]!;
    if (receipt.total !== record.total) {
      differences.push({
        kind: 'total_mismatch',
        record_id,
        receipt_id: receipt.receipt_id,
        payment_id,
        operation_type,
        local_total: formatMinorUnits(record.total),
        provider_total: formatTotal(receipt.total),
      });
    }
  }
  for (const [key, record] of local) {
    if (byKey.has(key)) continue;
    const { record_id, payment_id, operation_type, state } = record;
    differences.push({ kind: 'missing_at_provider', record_id, payment_id, operation_type, state, total: formatMinorUnits(record.total) });
  }
  return differences;
}

/** Every page of GET /v5/receipts (offset counts receipts, as the sandbox reads it); transport trouble is retried. */
async function listReceipts(deps: ReconcileDeps, query: { from?: string; to?: string; paymentId?: string }): Promise<ProviderReceipt[]> {
  const all: ProviderReceipt[] = [];
  let seen = 0;
  for (let page = 0; page < MAX_PAGES; page++) {
    const receipts = await listPage(deps, { ...query, offset: seen, limit: PAGE });
    seen += receipts.length;
    for (const receipt of receipts) {
      const read = readReceipt(receipt);
      if (read) all.push(read);
    }
    if (query.from !== undefined) deps.progress(`provider: page ${page + 1}, ${all.length} receipts so far`);
    if (receipts.length < PAGE) return all;
  }
  throw new ReconcileError(`the provider listed more than ${MAX_PAGES * PAGE} receipts; reconcile a shorter period`);
}

async function listPage(deps: ReconcileDeps, query: Parameters<FreedomPayClient['list']>[0]): Promise<ReceiptObject[]> {
  for (let attempt = 1; ; attempt++) {
    const outcome = classifyReceiptList(await deps.client.list(query));
    if (outcome.class === 'success') return outcome.data as ReceiptObject[];
    const message = `freedompay list failed: ${outcome.code}: ${outcome.message}`;
    if (outcome.class !== 'retryable' || attempt >= LIST_TRIES) throw new ReconcileError(message);
    deps.progress(`${message}; retrying`);
    await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
  }
}

async function readLocalRecords(queues: ProviderQueues, inPeriod: (day: string) => boolean): Promise<Map<string, LocalRecord>> {
  const queue = queues.get(RECEIPT.name);
  const records = new Map<string, LocalRecord>();
  for (const [jobState, state] of Object.entries(JOB_STATES)) {
    for (let start = 0; ; start += JOB_PAGE) {
      const jobs = (await queue.getJobs([jobState as keyof typeof JOB_STATES], start, start + JOB_PAGE - 1, true)) as Job<ReceiptJobData>[];
      for (const job of jobs) {
        if (job && inPeriod(new Date(job.timestamp).toISOString().slice(0, 10))) addRecord(records, job, state);
      }
      if (jobs.length < JOB_PAGE) break;
    }
  }
  return records;
}

async function addLocalRecord(queues: ProviderQueues, receipt: ProviderReceipt, records: Map<string, LocalRecord>): Promise<void> {
  const id = recordId(RECEIPT.name, saleKey(receipt));
  const job = (await queues.get(RECEIPT.name).getJob(id)) as Job<ReceiptJobData> | undefined;
  if (!job) return;
  const state = await job.getState();
  addRecord(records, job, JOB_STATES[state as keyof typeof JOB_STATES] ?? state);
}

function addRecord(records: Map<string, LocalRecord>, job: Job<ReceiptJobData>, state: string): void {
  const { payment_id, operation_type, settlements } = job.data;
  const total = (settlements ?? []).reduce((sum, s) => sum + (toMinorUnits(s.sum) ?? roundToMinorUnits(s.sum)), 0);
  records.set(keyOf(payment_id, operation_type), { record_id: job.id!, payment_id: String(payment_id), operation_type, state, total });
}

/** One line per difference, then a summary; `--json` prints the report object instead. */
export function formatReport(report: ReconcileReport): string {
  const lines = report.differences.map((d) => {
    const { kind, ...fields } = d;
    return `${kind.padEnd(22)}${Object.entries(fields)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`)
      .join(' ')}`;
  });
  const summary = `${report.provider} ${report.from}..${report.to}: ${report.provider_receipts} provider receipts, ${report.local_records} local records, ${report.differences.length} difference(s)`;
  return [...lines, summary].join('\n') + '\n';
}
