/**
 * The package's library entry (`import … from 'fiscal-worker'`, or `fiscal-worker/callbacks` for the signature alone):
 * what a sales system needs to receive result callbacks (CONTRACT §4, README "Result callbacks"). The service is the
 * `fiscal-worker` bin (dist/main.js); importing this module starts nothing and reads no configuration.
 */
export { DEFAULT_TOLERANCE_SECONDS, EVENT_ID_HEADER, SIGNATURE_HEADER, signCallback, verifyCallback } from './callbacks/signature.js';
/** The body of a callback: the record as `GET /v1/confirmations/{id}` (or payments, receipts) shows it. */
export type { RecordView } from './records/record-view.js';
