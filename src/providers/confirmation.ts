import { z } from 'zod';
import type { Provider } from '../domain/provider.js';
import { fiscalQrCode } from '../domain/qr.js';
import { classifyFiscalBox, type FiscalBoxTable } from './fiscalbox.js';
import type { ConfirmationSpec } from './spec.js';

/** Provider ids come from outside; printable and bounded, so they are safe in ids, logs and Redis keys. */
export function externalId(field: string) {
  return z
    .string({ error: `${field} is required and must be a string` })
    .min(1, `${field} must not be empty`)
    .max(128, `${field} must be at most 128 characters`)
    .regex(/^[\x21-\x7e]+$/, `${field} must be printable ASCII without spaces`);
}

export interface ConfirmationDefinition {
  name: Provider;
  title: string;
  idField: ConfirmationSpec['idField'];
  path: string;
  /** What decides the class once is_success is true (fiscalbox.ts). */
  decisive: FiscalBoxTable['decisive'];
  messageField: string;
}

/** A FiscalBox confirmation endpoint: one POST `{<idField>, qr_code}`, one answer, classified by its table. */
export function defineConfirmation(def: ConfirmationDefinition): ConfirmationSpec {
  const table: FiscalBoxTable = { provider: def.name, decisive: def.decisive, messageField: def.messageField };
  return {
    name: def.name,
    kind: 'confirmation',
    title: def.title,
    base: 'fiscalbox',
    path: def.path,
    idField: def.idField,
    processor: 'confirm',
    request: (config) => z.object({ [def.idField]: externalId(def.idField), qr_code: fiscalQrCode(config.qrAllowedHosts) }),
    classify: (answer) => classifyFiscalBox(table, answer),
  };
}
