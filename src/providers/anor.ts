import { defineConfirmation } from './confirmation.js';

/**
 * Seed 002 `POST /payment/anor_confirm`: the id is `transaction_id`; `data.error_code` decides (0 in the seed; live,
 * FiscalBox answers a success with it null, and with `message` and `payment_id` null too: CONTRACT §4).
 */
export const anor = defineConfirmation({
  name: 'anor',
  title: 'Anor',
  idField: 'transaction_id',
  path: '/payment/anor_confirm',
  decisive: [{ field: 'error_code', success: [null, 0, '0'], code: (value) => String(value) }],
  messageField: 'message',
});
