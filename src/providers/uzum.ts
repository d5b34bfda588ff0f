import { defineConfirmation } from './confirmation.js';

/**
 * Seed 001 `POST /payment/uzum_confirm`: HTTP 200 even on validation errors, and `is_success: true` alone is not
 * fiscalized: `payment_status` must be SUCCESS and `error_code` "0" (a string in the seed; 0 and null are read the
 * same). `client_phone_number` comes back null live; it is masked when present.
 */
export const uzum = defineConfirmation({
  name: 'uzum',
  title: 'Uzum',
  idField: 'payment_id',
  path: '/payment/uzum_confirm',
  decisive: [
    // The provider's own error code is the more specific reason, so it is read first.
    { field: 'error_code', success: ['0', 0, null], code: (value) => String(value) },
    { field: 'payment_status', success: ['SUCCESS'] },
  ],
  messageField: 'error_message',
});
