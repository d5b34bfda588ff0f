import { appRoutes } from '@bull-board/api/dist/routes.js';
import { describe, expect, it } from 'vitest';
import { REGISTRY } from '../../src/providers/index.js';
import { PROVIDERS } from '../../src/domain/provider.js';
import { encodeAttempt } from '../../src/domain/attempt.js';
import { maskPaymeCode, maskPersonalData } from '../../src/domain/personal-data.js';
import { BOARD_ACTIONS, boardActionOf, queuePolicy } from '../../src/http/board-policy.js';
import { describeAttempt, jobTitle, readableAttempts } from '../../src/http/board-view.js';

describe('board policy', () => {
  const mutating = appRoutes.api.flatMap((r) => {
    const methods = (Array.isArray(r.method) ? r.method : [r.method]).map((m) => m.toUpperCase());
    const routes = Array.isArray(r.route) ? r.route : [r.route];
    return methods.filter((m) => m !== 'GET').flatMap((m) => routes.map((route) => [m, route] as const));
  });

  it('classifies every mutating route of the installed bull-board (an upgrade adding one fails here)', () => {
    expect(mutating.length).toBeGreaterThan(20);
    const unclassified = mutating.filter(([m, route]) => boardActionOf(m, route) === 'unknown');
    expect(unclassified).toEqual([]);
  });

  it('treats reads as views and an unlisted change as unknown', () => {
    expect(boardActionOf('GET', '/api/queues/:queueName/:jobId')).toBeNull();
    expect(boardActionOf('PUT', '/api/queues/:queueName/:jobId/retry')).toBe('retry');
    expect(boardActionOf('PUT', '/api/queues/:queueName/retry/:queueStatus')).toBe('retry_all');
    expect(boardActionOf('PATCH', '/api/queues/:queueName/:jobId/update-data')).toBe('update_data');
    expect(boardActionOf('DELETE', '/api/queues/:queueName/:jobId')).toBe('unknown');
  });

  it('gives every provider a policy whose UI switches show no button the policy refuses', () => {
    for (const provider of [...PROVIDERS.map((p) => REGISTRY[p].kind), 'callback' as const]) {
      const policy = queuePolicy(provider);
      expect(policy.readOnlyMode, provider).toBe(policy.allowed.size === 0);
      expect(policy.allowRetries, provider).toBe(policy.allowed.has('retry') && policy.allowed.has('retry_all'));
      if (policy.allowed.size < BOARD_ACTIONS.length) expect(policy.refusal, provider).not.toBe('');
    }
  });

  it('money queues: Payme Go is view only; Freedom Pay replays and pauses but never adds, edits or removes', () => {
    expect([...queuePolicy(REGISTRY.payme_go.kind).allowed]).toEqual([]);
    expect([...queuePolicy(REGISTRY.freedompay.kind).allowed].sort()).toEqual(['pause', 'retry', 'retry_all']);
    for (const provider of ['payme', 'uzum', 'anor', 'click'] as const) expect(queuePolicy(REGISTRY[provider].kind).allowed.size, provider).toBe(BOARD_ACTIONS.length);
  });

  it('result callbacks are replayed, removed and paused, never added or edited by hand', () => {
    expect([...queuePolicy('callback').allowed].sort()).toEqual(['clean', 'pause', 'remove', 'retry', 'retry_all']);
  });
});

describe('board view', () => {
  it('masks Payme codes wherever they sit, keeping the first and last four digits; fiscal QR URLs stay', () => {
    expect(maskPaymeCode('50502044301381396427')).toBe('5050************6427');
    expect(maskPaymeCode('12345')).toBe('*****');
    const data = { amount: 1000, qr_code: '50502044301381396427', fiscal_qr_code: 'https://ofd.soliq.uz/check?t=1' };
    expect(maskPersonalData(data)).toEqual({ ...data, qr_code: '5050************6427' });
    expect(data.qr_code).toBe('50502044301381396427'); // the job's own data is left alone
    const result = { charge: { result: { data: { qr_code: '50502244301381336427', client_phone_number: '998712565009' } } } };
    expect(maskPersonalData(result)).toEqual({ charge: { result: { data: { qr_code: '5050************6427', client_phone_number: '998*****5009' } } } });
    expect(maskPersonalData({ qr_code: '123456' })).toEqual({ qr_code: '******' });
    const confirmation = { payment_id: 'p', qr_code: 'https://ofd.soliq.uz/check?t=UZ1&r=2&c=3&s=4' };
    expect(maskPersonalData(confirmation)).toEqual(confirmation);
  });

  it('titles a failed job with its reason, and a succeeded or retried one without a stale failure', () => {
    expect(jobTitle('Payme confirmation', { failedReason: 'rejected: -31001: Payment not found', returnvalue: null })).toBe(
      'Payme confirmation · rejected: -31001: Payment not found',
    );
    expect(jobTitle('Payme confirmation', { failedReason: 'http_503: down', returnvalue: { data: {} } })).toBe('Payme confirmation');
    expect(jobTitle('Payme confirmation', { failedReason: '', returnvalue: null })).toBe('Payme confirmation');
  });

  it('turns attempt entries into one readable line each, the provider answer below', () => {
    const entry = encodeAttempt({
      at: '2025-01-02T03:04:05.000Z',
      http_status: 200,
      class: 'rejected',
      latency_ms: 12,
      code: '-31001',
      message: 'Payment not found',
      provider_response: { is_success: false, error: { code: -31001 }, data: { qr_code: '50502044301381396427' } },
      terminal: true,
    });
    expect(describeAttempt(entry)).toBe(
      '2025-01-02T03:04:05.000Z · HTTP 200 · rejected -31001 · Payment not found · 12 ms · ended the run\n    provider answer: {"is_success":false,"error":{"code":-31001},"data":{"qr_code":"5050************6427"}}',
    );
    expect(describeAttempt(encodeAttempt({ at: 'T', http_status: 'timeout', class: 'ambiguous', latency_ms: 300, code: 'timeout' }))).toBe('T · timeout · ambiguous timeout · 300 ms');
    expect(describeAttempt('Error: job stalled more than allowable limit\n    at x')).toBe('Error: job stalled more than allowable limit\n    at x');
    const body = { queues: [{ jobs: [{ stacktrace: [entry] }] }], job: { stacktrace: [entry] } };
    readableAttempts({ body });
    expect(body.queues[0]!.jobs[0]!.stacktrace[0]).toContain('provider answer');
    expect(body.job.stacktrace[0]).toContain('HTTP 200 · rejected');
  });
});
