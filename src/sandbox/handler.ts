import type { IncomingMessage, ServerResponse } from 'node:http';
import { readJwsHeader, verifyFreedomPaySignature } from '../providers/freedompay-jws.js';
import { CallLog } from './call-log.js';
import { handleControl } from './control.js';
import { answerWithoutEffect, deliver, freedomPayError } from './delivery.js';
import { FaultBook } from './faults.js';
import { FISCALBOX_ROUTES, FiscalBoxState, INVALID_PARAMS, fiscalBoxError, fiscalBoxKey, validateFiscalBox, type FiscalBoxEndpoint } from './fiscalbox.js';
import { FREEDOMPAY_DEFAULT_MERCHANT } from './fixtures.js';
import { ReceiptStore } from './freedompay.js';
import { parseListQuery, validateCreate } from './freedompay-input.js';
import { NOT_JSON, isObject, parseJson } from './json.js';
import { readBody, sendJson } from './respond.js';
import type { Reply, SandboxCall } from './types.js';

export interface CoreOptions {
  fiscalboxToken: string | undefined;
  freedompay: { merchantId: string; secretKey: string } | undefined;
  pendingReads: number;
  maxCalls: number;
  maxRecords: number;
}

const MAX_BODY_BYTES = 1 << 20;
const RECEIPTS = '/v5/receipts';

/** Routing and the per-request pipeline: record → authenticate → validate → plan faults → act → deliver. */
export class SandboxCore {
  readonly calls: CallLog;
  readonly faults: FaultBook;
  readonly fiscalbox: FiscalBoxState;
  readonly receipts: ReceiptStore;
  readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly opts: CoreOptions) {
    this.calls = new CallLog(opts.maxCalls);
    this.faults = new FaultBook(opts.maxRecords);
    this.fiscalbox = new FiscalBoxState(opts.maxRecords);
    this.receipts = new ReceiptStore(opts.pendingReads, opts.maxRecords);
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    readBody(req, MAX_BODY_BYTES)
      .then((raw) => {
        if (raw === undefined) return sendJson(res, 413, { error: { code: 413, message: 'body over 1 MiB' } });
        this.#route(req, res, raw);
      })
      .catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) sendJson(res, 500, { error: { code: 500, message: err instanceof Error ? err.message : String(err) } });
      });
  };

  /** In-flight slow answers still go out: reset() forgets state, it does not break connections. */
  reset(): void {
    this.calls.reset();
    this.faults.reset();
    this.fiscalbox.reset();
    this.receipts.reset();
  }

  #route(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const search = q === -1 ? '' : url.slice(q + 1);
    const method = req.method ?? 'GET';
    const fiscalbox = FISCALBOX_ROUTES.get(path);
    if (fiscalbox && method === 'POST') return this.#fiscalbox(fiscalbox, req, res, raw);
    if (path === RECEIPTS && method === 'POST') return this.#createReceipt(req, res, raw);
    if (path === RECEIPTS && method === 'GET') return this.#listReceipts(req, res, search);
    if (path.startsWith(`${RECEIPTS}/`) && method === 'GET') return this.#getReceipt(req, res, path);
    if (path.startsWith('/__sandbox/') && handleControl(this, method, path, search, raw, res)) return;
    const status = fiscalbox || path === RECEIPTS || path.startsWith(`${RECEIPTS}/`) ? 405 : 404;
    sendJson(res, status, { error: { code: status, message: `no sandbox route for ${method} ${path}` } });
  }

  #fiscalbox(endpoint: FiscalBoxEndpoint, req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    const body = parseJson(raw);
    const call = this.calls.record(endpoint, fiscalBoxKey(endpoint, body), body === NOT_JSON ? raw.toString('utf8') : body);
    const token = this.opts.fiscalboxToken;
    if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) {
      return answer(res, call, fiscalBoxError(401, 'missing or invalid bearer token', 401));
    }
    const invalid = body === NOT_JSON ? 'request body must be JSON' : validateFiscalBox(endpoint, body);
    if (invalid) return answer(res, call, fiscalBoxError(INVALID_PARAMS, invalid));
    const plan = this.faults.next(endpoint, call.key);
    const reply = answerWithoutEffect(plan, 'fiscalbox') ?? this.fiscalbox.execute(endpoint, body as Record<string, unknown>, plan.answer?.kind === 'fail', plan.live);
    deliver(req, res, call, reply, plan.delivery, this.timers);
  }

  #createReceipt(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    const body = parseJson(raw);
    const pid = isObject(body) ? body['payment_id'] : undefined;
    const key = typeof pid === 'string' || typeof pid === 'number' ? String(pid) : '';
    const call = this.calls.record('freedompay_create', key, body === NOT_JSON ? raw.toString('utf8') : body);
    const auth = this.#authenticate(req, RECEIPTS, raw);
    if ('status' in auth) return answer(res, call, auth);
    const valid = validateCreate(body);
    if (!valid.ok) return answer(res, call, freedomPayError(400, valid.message));
    const plan = this.faults.next('freedompay_create', key);
    const merchantId = auth.merchantId ?? (valid.input.merchant_id === undefined ? FREEDOMPAY_DEFAULT_MERCHANT : String(valid.input.merchant_id));
    const reply = answerWithoutEffect(plan, 'freedompay') ?? {
      status: 200,
      body: { data: this.receipts.create(valid.input, merchantId, { fail: plan.answer?.kind === 'fail', pendingReads: plan.pendingReads }) },
    };
    deliver(req, res, call, reply, plan.delivery, this.timers);
  }

  #getReceipt(req: IncomingMessage, res: ServerResponse, path: string): void {
    let id: string;
    try {
      id = decodeURIComponent(path.slice(RECEIPTS.length + 1));
    } catch {
      id = path.slice(RECEIPTS.length + 1);
    }
    const stored = this.receipts.find(id);
    // The fault key is the receipt's payment_id, so a payment's directives follow its receipt (docs/SANDBOX.md).
    const call = this.calls.record('freedompay_get', stored ? stored.receipt.payment_id : id, null);
    const auth = this.#authenticate(req, path, undefined);
    if ('status' in auth) return answer(res, call, auth);
    if (!stored) return answer(res, call, freedomPayError(404, `receipt ${id} not found`));
    const plan = this.faults.next('freedompay_get', call.key);
    const reply = answerWithoutEffect(plan, 'freedompay') ?? { status: 200, body: { data: this.receipts.read(stored) } };
    deliver(req, res, call, reply, plan.delivery, this.timers);
  }

  #listReceipts(req: IncomingMessage, res: ServerResponse, search: string): void {
    // The list has no id of its own: its key is always "*" (program("*", …) to fault it); the body shows the query.
    const call = this.calls.record('freedompay_list', '*', Object.fromEntries(new URLSearchParams(search)));
    const auth = this.#authenticate(req, RECEIPTS, undefined);
    if ('status' in auth) return answer(res, call, auth);
    const parsed = parseListQuery(search);
    if (!parsed.ok) return answer(res, call, freedomPayError(400, parsed.message));
    const plan = this.faults.next('freedompay_list', '*');
    const reply = answerWithoutEffect(plan, 'freedompay') ?? { status: 200, body: { data: this.receipts.list(parsed.query) } };
    deliver(req, res, call, reply, plan.delivery, this.timers);
  }

  /**
   * With `freedompay` configured every /v5/receipts request must carry a valid X-JWS-Signature for the configured
   * merchant. Without it nothing is checked, and the merchant is read (unverified) from the token if one came.
   */
  #authenticate(req: IncomingMessage, uri: string, raw: Buffer | undefined): { merchantId: string | undefined } | Reply {
    const header = req.headers['x-jws-signature'];
    const token = Array.isArray(header) ? header[0] : header;
    const configured = this.opts.freedompay;
    if (!configured) {
      const merchant = token ? readJwsHeader(token)?.merchant_id : undefined;
      return { merchantId: typeof merchant === 'string' || typeof merchant === 'number' ? String(merchant) : undefined };
    }
    const verified = verifyFreedomPaySignature(token, { method: req.method ?? 'GET', uri, body: raw }, configured.secretKey);
    if (!verified.ok) return freedomPayError(401, verified.reason);
    if (verified.merchantId !== configured.merchantId) return freedomPayError(401, `merchant_id ${verified.merchantId} is not the configured merchant`);
    return { merchantId: verified.merchantId };
  }
}

/** Answers that are not faults (auth, validation, not found) go out at once, whatever the key's directives. */
function answer(res: ServerResponse, call: SandboxCall, reply: Reply): void {
  call.answered = String(reply.status);
  sendJson(res, reply.status, reply.body, reply.headers);
}
