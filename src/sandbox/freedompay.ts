import { randomInt, randomUUID } from 'node:crypto';
import {
  FISCAL_STORAGE_NUMBER,
  FREEDOMPAY_COMPANY,
  FREEDOMPAY_DEFAULT_MERCHANT,
  FREEDOMPAY_RECEIPT_FORMAT,
  MESSAGES,
  OFD_LINK_BASE,
  compactTime,
  formatProviderTime,
  isoDate,
  money,
  parseProviderTime,
} from './fixtures.js';
import type { CreateInput, ListQuery } from './freedompay-input.js';
import type { FreedomPayReceipt } from './types.js';
import { DEFAULT_MAX_RECORDS } from './limits.js';

/** Freedom Pay receipts (seed 004): created `pending`, settled `registered` (or `failed`) after some reads. */

interface Stored {
  receipt: FreedomPayReceipt;
  createdMs: number;
  reads: number;
  pendingReads: number;
  fail: boolean;
}

export type SeedReceipt = Partial<FreedomPayReceipt> & { payment_id: string; total: number };

// An arbitrary fiscal error code: the seed documents `error` only as null.
const RECEIPT_FAILED_CODE = 5001;

export class ReceiptStore {
  #all: Stored[] = [];
  readonly #byId = new Map<string, Stored>();
  #documentSeq = 10_000;

  constructor(
    private readonly defaultPendingReads: number,
    /** Receipts kept, the oldest by creation time forgotten first (limits.ts). */
    private readonly maxReceipts = DEFAULT_MAX_RECORDS,
  ) {}

  /** A second create for the same payment_id makes a second receipt, as the real provider would. */
  create(input: CreateInput, merchantId: string, opts: { fail: boolean; pendingReads: number | undefined }): FreedomPayReceipt {
    const now = Date.now();
    const positions = input.positions.map((p) => ({
      ...p,
      measure: typeof p['measure'] === 'string' ? p['measure'] : 'piece',
      sum: money(p.price * p.quantity),
    }));
    const settlements = input.settlements.map((s) => ({ type: s.type, sum: s.sum }));
    const receipt: FreedomPayReceipt = {
      merchant_id: merchantId,
      receipt_id: randomUUID(),
      operation_type: input.operation_type,
      receipt_format: input.receipt_format ?? FREEDOMPAY_RECEIPT_FORMAT,
      status: 'pending',
      fiscal_document_number: '',
      fiscal_storage_number: null,
      fiscal_attribute: '',
      registered_at: null,
      created_at: formatProviderTime(now),
      fiscal_provider_id: null,
      positions,
      total: money(settlements.reduce((sum, s) => sum + s.sum, 0)),
      settlements,
      company: input.company ?? { ...FREEDOMPAY_COMPANY, email: input.customer?.email ?? FREEDOMPAY_COMPANY.email },
      receipt_method: 'separately',
      error: null,
      link: null,
      payment_id: String(input.payment_id), // seed 004: sent as an integer, echoed as a string
    };
    this.#add({ receipt, createdMs: now, reads: 0, pendingReads: opts.pendingReads ?? this.defaultPendingReads, fail: opts.fail });
    return receipt;
  }

  find(receiptId: string): Stored | undefined {
    return this.#byId.get(receiptId);
  }

  /** One GET read: counts it, and settles the receipt once it has answered pending `pendingReads` times. */
  read(stored: Stored): FreedomPayReceipt {
    stored.reads += 1;
    if (stored.receipt.status === 'pending' && stored.reads > stored.pendingReads) this.#settle(stored, Date.now());
    return stored.receipt;
  }

  /** Newest first (seed 004), then offset/limit. Dates compare on the UTC creation day. */
  list(query: ListQuery): FreedomPayReceipt[] {
    const out: FreedomPayReceipt[] = [];
    let skipped = 0;
    for (let i = this.#all.length - 1; i >= 0 && out.length < query.limit; i--) {
      const s = this.#all[i]!;
      if (query.paymentId !== undefined && s.receipt.payment_id !== query.paymentId) continue;
      if (query.from !== undefined || query.to !== undefined) {
        const day = isoDate(s.createdMs);
        if ((query.from !== undefined && day < query.from) || (query.to !== undefined && day > query.to)) continue;
      }
      if (skipped < query.offset) skipped += 1;
      else out.push(s.receipt);
    }
    return out;
  }

  all(paymentId?: string): FreedomPayReceipt[] {
    const selected = paymentId === undefined ? this.#all : this.#all.filter((s) => s.receipt.payment_id === paymentId);
    return selected.map((s) => structuredClone(s.receipt));
  }

  /** A receipt that exists only at the provider (reconcile tests): registered unless `status` says otherwise. */
  seed(partial: SeedReceipt): FreedomPayReceipt {
    const createdMs = (partial.created_at && parseProviderTime(partial.created_at)) || Date.now();
    const total = partial.total;
    const receipt: FreedomPayReceipt = {
      merchant_id: FREEDOMPAY_DEFAULT_MERCHANT,
      receipt_id: randomUUID(),
      operation_type: 'sell',
      receipt_format: FREEDOMPAY_RECEIPT_FORMAT,
      status: 'pending',
      fiscal_document_number: '',
      fiscal_storage_number: null,
      fiscal_attribute: '',
      registered_at: null,
      created_at: formatProviderTime(createdMs),
      fiscal_provider_id: null,
      positions: [{ name: 'Товар', quantity: 1, price: total, measure: 'piece', vat_code: 'vat_20', payment_method: 'full_payment', payment_object: 'goods', sum: total }],
      total,
      settlements: [{ type: 'cashless', sum: total }],
      company: { ...FREEDOMPAY_COMPANY },
      receipt_method: 'separately',
      error: null,
      link: null,
      payment_id: partial.payment_id,
    };
    const stored: Stored = { receipt, createdMs, reads: 0, pendingReads: this.defaultPendingReads, fail: partial.status === 'failed' };
    // Fiscal fields first, then whatever the caller gave wins.
    if (partial.status !== 'pending') this.#settle(stored, createdMs);
    Object.assign(receipt, partial, { payment_id: String(partial.payment_id) });
    this.#add(stored);
    return structuredClone(receipt);
  }

  reset(): void {
    this.#all = [];
    this.#byId.clear();
    this.#documentSeq = 10_000;
  }

  /** Keeps #all ordered by creation time (seeded receipts may be back-dated); new receipts land at the end. */
  #add(stored: Stored): void {
    let i = this.#all.length;
    while (i > 0 && this.#all[i - 1]!.createdMs > stored.createdMs) i--;
    this.#all.splice(i, 0, stored);
    this.#byId.set(stored.receipt.receipt_id, stored);
    if (this.#all.length > this.maxReceipts) this.#byId.delete(this.#all.shift()!.receipt.receipt_id);
  }

  #settle(stored: Stored, at: number): void {
    const r = stored.receipt;
    if (stored.fail) {
      r.status = 'failed';
      r.error = { code: RECEIPT_FAILED_CODE, message: MESSAGES.receiptFailed };
      return;
    }
    const documentNumber = String(++this.#documentSeq);
    const attribute = String(randomInt(100_000_000, 4_000_000_000));
    r.status = 'registered';
    r.fiscal_document_number = documentNumber;
    r.fiscal_storage_number = FISCAL_STORAGE_NUMBER;
    r.fiscal_attribute = attribute;
    r.registered_at = formatProviderTime(at);
    r.fiscal_provider_id = randomUUID();
    r.link = `${OFD_LINK_BASE}?fn=${FISCAL_STORAGE_NUMBER}&fp=${attribute}&i=${documentNumber}&t=${compactTime(at)}&s=${r.total}&n=1`;
  }
}
