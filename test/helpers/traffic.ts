import type { RecordState } from '../../src/domain/record.js';
import type { RecordView } from '../../src/records/record-store.js';

/**
 * Confirmations sent through the real API, for the metrics tests and scripts/metrics-snapshot.ts. The payment id
 * carries the sandbox's fault directives (docs/SANDBOX.md): `reject_…` is rejected, `s503x2_…` answers 503 twice.
 * No vitest imports: the snapshot script uses this too.
 */

export const QR = 'https://ofd.soliq.uz/check?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161';
export const OTHER_QR = 'https://ofd.soliq.uz/check?t=UZ170703100597&r=2422&c=20230104121802&s=514343190162';

export type ConfirmProvider = 'payme' | 'uzum' | 'anor';

export interface TrafficClient {
  post(path: string, body: unknown): Promise<{ status: number; body: any }>;
  waitForState(id: string, state: RecordState | RecordState[], timeoutMs?: number): Promise<RecordView>;
}

export interface Confirmation {
  provider: ConfirmProvider;
  /** Payment id (transaction id for Anor), directives first. */
  key: string;
  qrCode?: string;
}

export function confirmationBody(c: Confirmation): Record<string, string> {
  return { provider: c.provider, [c.provider === 'anor' ? 'transaction_id' : 'payment_id']: c.key, qr_code: c.qrCode ?? QR };
}

/** `count` confirmations for `provider` whose ids start with `directives` (e.g. `reject`, `s503x2`, or '' for none). */
export function confirmations(provider: ConfirmProvider, directives: string, count: number, tag: string): Confirmation[] {
  return Array.from({ length: count }, (_, i) => ({ provider, key: `${directives ? `${directives}_` : ''}${tag}-${provider}-${i}` }));
}

/** Posts each confirmation (in parallel) and returns the HTTP status and record id of each, in order. */
export async function post(client: TrafficClient, list: readonly Confirmation[]): Promise<{ status: number; id: string }[]> {
  return Promise.all(
    list.map(async (c) => {
      const res = await client.post('/v1/confirmations', confirmationBody(c));
      return { status: res.status, id: String(res.body?.id ?? '') };
    }),
  );
}

/** Waits until every record is succeeded or dead; returns the records in order. */
export async function settle(client: TrafficClient, ids: readonly string[], timeoutMs = 20_000): Promise<RecordView[]> {
  return Promise.all(ids.map((id) => client.waitForState(id, ['succeeded', 'dead'], timeoutMs)));
}
