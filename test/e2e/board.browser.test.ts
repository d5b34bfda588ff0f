import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumMissing, launchChromium, type Browser } from '../helpers/browser.js';
import { QR, startHarness, type Harness } from '../helpers/harness.js';
import { newCode, uid } from '../helpers/ids.js';

// Bull Board as an operator uses it (issues 15 and 16): a real chromium logs in with HTTP Basic, finds a dead letter
// made through the sandbox, replays it with the Retry button and sees it succeed; on Payme Go nothing can re-send an
// ambiguous charge. `FISCAL_BOARD_SCREENSHOT=docs/board.png` writes the README's screenshot (else a temp file).

const USER = 'operator';
const PASSWORD = `board-${randomUUID()}`;
const missing = chromiumMissing();
const screenshotPath = process.env.FISCAL_BOARD_SCREENSHOT ?? join(tmpdir(), `fiscal-board-${uid()}.png`);

/** Every control that changes a job or a queue: retry, duplicate (add), update data, clean, and the queue menu. */
const ACTION_ICONS = ['refresh-cw', 'files', 'pencil', 'trash-2', 'trash2', 'ellipsis-vertical'].map((icon) => `svg.lucide-${icon}`).join(', ');

/** The job's card on a queue page, found by the id it shows. */
const jobCard = (page: Page, id: string) => page.locator('div[class*="card-"]').filter({ has: page.locator('span[class*="jobId"]', { hasText: id }) });

describe('Bull Board in chromium', () => {
  let h: Harness;
  let browser: Browser;
  beforeAll(async () => {
    if (missing) return;
    h = await startHarness({
      // A provider timeout long enough that a busy machine still gets the sandbox's 500s as answers, not timeouts.
      env: { BOARD_USERNAME: USER, BOARD_PASSWORD: PASSWORD, RETRY_ATTEMPTS: '2', PROVIDER_TIMEOUT_MS: '3000', CIRCUIT_THRESHOLD: '50' },
    });
    browser = await launchChromium({ username: USER, password: PASSWORD });
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('finds a dead letter with its reason, replays it with Retry once the sandbox stops failing, sees it succeed', async (ctx) => {
    if (missing) return ctx.skip(missing);
    const pid = `browser-${uid()}`;
    h.sandbox.program(pid, 's500');
    const id = (await h.post('/v1/confirmations', { provider: 'payme', payment_id: pid, qr_code: QR })).body.id as string;
    const rejected = (await h.post('/v1/confirmations', { provider: 'payme', payment_id: `reject_${uid()}`, qr_code: QR })).body.id as string;
    const reason = (await h.waitForState(id, 'dead')).error?.message ?? '';
    expect(reason).toMatch(/^gave up after 2 attempts; last: http_500/);
    await h.waitForState(rejected, 'dead');

    const page = await browser.context.newPage();
    await page.goto(`${h.url}/admin/queues/queue/payme?status=failed`);
    const card = jobCard(page, id);
    // The reason in the title, each provider call with its answer in the Error tab, the record linked.
    await card.getByText(`Payme confirmation · ${reason}`).waitFor();
    await card.getByText('provider answer: {"error":{"code":500').first().waitFor();
    expect(await card.locator('a', { hasText: 'API record' }).getAttribute('href')).toBe(`/v1/confirmations/${id}`);
    await jobCard(page, rejected).getByText('rejected: -31001').waitFor();
    await page.screenshot({ path: screenshotPath });

    h.sandbox.program(pid, '');
    await card.locator('button:has(svg.lucide-refresh-cw)').click();
    const retried = page.waitForResponse((res) => res.request().method() === 'PUT' && res.url().endsWith('/retry'));
    await page.getByRole('button', { name: 'Confirm' }).click();
    expect((await retried).status()).toBe(204);

    // The board's completed list picks it up at its next poll.
    await page.goto(`${h.url}/admin/queues/queue/payme?status=completed`);
    const done = jobCard(page, id);
    await done.waitFor({ timeout: 20_000 });
    expect(await done.innerText()).not.toContain('gave up');
    const record = await h.get(`/v1/confirmations/${id}`);
    expect(record.body).toMatchObject({ state: 'succeeded', attempts: 3 });
    const audit = h.logs.audits('replay').find((l) => l.actor && l.ids?.includes(id));
    expect(audit).toMatchObject({ actor: { via: 'board', name: USER }, replayed: 1 });
    await page.close();
  }, 60_000);

  it('Payme Go: an ambiguous charge shows no button that could send it again, and its retry is refused', async (ctx) => {
    if (missing) return ctx.skip(missing);
    const code = newCode();
    h.sandbox.program(code, 'hangx1');
    const charge = await h.post('/v1/payments/payme?wait=10', { amount: 1000, qr_code: code }, { 'idempotency-key': `browser-${uid()}` });
    expect(charge.body).toMatchObject({ state: 'dead', error: { kind: 'ambiguous' } });
    const id = charge.body.id as string;

    const page = await browser.context.newPage();
    await page.goto(`${h.url}/admin/queues/queue/payme_go?status=failed`);
    const card = jobCard(page, id);
    await card.getByText('ambiguous: timeout').waitFor();
    expect(await page.locator(ACTION_ICONS).count()).toBe(0);
    expect(await page.getByRole('button', { name: /retry|clean|add job|duplicate|update/i }).count()).toBe(0);

    await page.goto(`${h.url}/admin/queues/queue/payme_go/${encodeURIComponent(id)}`);
    await page.getByText('ambiguous: timeout').first().waitFor();
    expect(await page.locator(ACTION_ICONS).count()).toBe(0);
    await page.getByRole('tab', { name: 'Data', exact: true }).click();
    await page.getByText(`${code.slice(0, 4)}************${code.slice(-4)}`).first().waitFor();
    expect(await page.content()).not.toContain(code);

    // What a Retry click would send, from the page itself with its credentials: refused.
    const answer = await page.evaluate(async (url) => {
      const res = await fetch(url, { method: 'PUT' });
      return { status: res.status, body: (await res.json()) as { error: { code: string } } };
    }, `${h.url}/admin/queues/api/queues/payme_go/${encodeURIComponent(id)}/retry`);
    expect(answer).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect(h.sandbox.calls('payme_go').filter((c) => c.key === code)).toHaveLength(1);
    expect((await h.get(`/v1/payments/${id}`)).body.state).toBe('dead');
    await page.close();
  }, 60_000);
});
