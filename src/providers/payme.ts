import { defineConfirmation } from './confirmation.js';

/**
 * Seed 000 `POST /payment/payme_confirm`. `data.error` is "Error description (null on success)": it alone decides.
 * `data.id` and `data.result.receipt` (`_id`, `create_time`, `pay_time`) come back null live and are only kept.
 */
export const payme = defineConfirmation({
  name: 'payme',
  title: 'Payme',
  idField: 'payment_id',
  path: '/payment/payme_confirm',
  decisive: [{ field: 'error', success: [null, ''], code: () => 'payme_error' }],
  messageField: 'error',
});
