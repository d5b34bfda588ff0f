import { parseArgs } from 'node:util';
import type { Config } from '../config/env.js';
import { openStore, type Store } from '../operations/store.js';
import { FreedomPayClient } from '../providers/freedompay.js';
import { specsOfKind } from '../providers/index.js';
import { ProviderTransport } from '../providers/transport.js';
import { formatReport, reconcileFreedomPay } from './freedompay.js';

export const RECONCILE_USAGE = 'usage: fiscal-worker reconcile freedompay --from YYYY-MM-DD --to YYYY-MM-DD [--json]';

/** Exit codes (CONTRACT §1 style): no differences, some differences, could not run. */
export const EXIT_SAME = 0;
export const EXIT_DIFFERENT = 1;
export const EXIT_FAILED = 2;

export interface CliStreams {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
/** A real calendar day: Date would turn 2024-02-30 into March 1st, so the day must survive a round trip. */
function isDate(value: string | undefined): value is string {
  if (value === undefined || !DATE.test(value)) return false;
  const time = Date.parse(`${value}T00:00:00Z`);
  return !Number.isNaN(time) && new Date(time).toISOString().slice(0, 10) === value;
}

/** The report goes to stdout (text, or JSON with --json), progress and errors to stderr; returns the exit code. */
export async function runReconcileCli(args: string[], config: Readonly<Config>, io: CliStreams): Promise<number> {
  let values: { from?: string; to?: string; json?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: { from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean' } } }));
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n${RECONCILE_USAGE}\n`);
    return EXIT_FAILED;
  }
  const problems: string[] = [];
  // Only a receipt provider has a list of what it registered to reconcile against (seed 004).
  const reconcilable = specsOfKind('receipt').map((spec) => spec.name);
  if (positionals.length !== 1 || !reconcilable.includes(positionals[0] as (typeof reconcilable)[number])) {
    problems.push(`the provider to reconcile must be one of ${reconcilable.join(', ')}`);
  }
  if (!isDate(values.from)) problems.push('--from must be a date YYYY-MM-DD');
  if (!isDate(values.to)) problems.push('--to must be a date YYYY-MM-DD');
  if (isDate(values.from) && isDate(values.to) && values.from > values.to) problems.push('--from must not be after --to');
  const { baseUrl, merchantId, secretKey } = config.freedompay;
  if (!merchantId || !secretKey) problems.push('FREEDOMPAY_MERCHANT_ID and FREEDOMPAY_SECRET_KEY must be set to read the provider receipts');
  if (problems.length > 0) {
    io.stderr.write(`${problems.join('\n')}\n${RECONCILE_USAGE}\n`);
    return EXIT_FAILED;
  }

  const transport = new ProviderTransport(baseUrl, { timeoutMs: config.providerTimeoutMs, connections: 1 });
  const client = new FreedomPayClient(transport, baseUrl, { merchantId, secretKey });
  let store: Store | undefined;
  try {
    store = await openStore(config);
    const report = await reconcileFreedomPay({ client, queues: store.queues, progress: (line) => io.stderr.write(`${line}\n`) }, values.from!, values.to!);
    io.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return report.differences.length === 0 ? EXIT_SAME : EXIT_DIFFERENT;
  } catch (err) {
    io.stderr.write(`reconcile failed: ${(err as Error).message}\n`);
    return EXIT_FAILED;
  } finally {
    await Promise.allSettled([store?.close(), transport.close()]);
  }
}
