import { defineConfirmation } from './confirmation.js';

/**
 * Click, through FiscalBox `POST /payment/click_confirm` `{payment_id, qr_code}` (FiscalBox's Click page; not in the
 * seeds: ../shared/fiscalbox-live.md). Success is `is_success: true` with `data.status` "successfully"; the page's
 * success has `inn`, `payment_id`, `qr_code` and `error` null. Refusals come as HTTP 200 with `is_success: false`.
 */
export const click = defineConfirmation({
  name: 'click',
  title: 'Click',
  idField: 'payment_id',
  path: '/payment/click_confirm',
  decisive: [{ field: 'status', success: ['successfully'] }],
  messageField: 'error',
});
