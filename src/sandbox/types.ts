/** Every provider endpoint the sandbox imitates (seeds 000–004, and Click from FiscalBox's Click page). */
export type Endpoint =
  | 'payme_confirm'
  | 'uzum_confirm'
  | 'anor_confirm'
  | 'click_confirm'
  | 'payme_go'
  | 'freedompay_create'
  | 'freedompay_get'
  | 'freedompay_list';

export const ENDPOINTS: readonly Endpoint[] = [
  'payme_confirm',
  'uzum_confirm',
  'anor_confirm',
  'click_confirm',
  'payme_go',
  'freedompay_create',
  'freedompay_get',
  'freedompay_list',
];

/** One request as received. `answered` is filled in once the sandbox decides: "200", "503", "reset", "garbage", "hang". */
export interface SandboxCall {
  endpoint: Endpoint;
  key: string;
  body: unknown;
  at: number;
  answered: string;
}

/** An answer before delivery faults (slow, garbage, reset, hang) are applied. */
export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface FreedomPayPosition {
  name: string;
  quantity: number;
  price: number;
  measure?: string;
  vat_code?: string;
  payment_method?: string;
  payment_object?: string;
  sum: number;
}

export interface FreedomPaySettlement {
  type: string;
  sum: number;
}

/** Seed 004 "Объект чека": field names and value types as in the GET-one example. */
export interface FreedomPayReceipt {
  merchant_id: string;
  receipt_id: string;
  operation_type: string;
  receipt_format: string;
  status: 'pending' | 'registered' | 'failed';
  fiscal_document_number: string;
  fiscal_storage_number: string | null;
  fiscal_attribute: string;
  registered_at: string | null;
  created_at: string;
  fiscal_provider_id: string | null;
  positions: FreedomPayPosition[];
  total: number;
  settlements: FreedomPaySettlement[];
  company: Record<string, unknown>;
  receipt_method: string;
  error: { code: number; message: string } | null;
  link: string | null;
  payment_id: string;
}
