import { z } from 'zod';

/** The Soliq OFD receipt parameters every fiscal QR URL carries (seeds 000–002: `?t=…&r=…&c=…&s=…`). */
const RECEIPT_PARAMS = ['t', 'r', 'c', 's'] as const;

export function fiscalQrCode(allowedHosts: readonly string[]) {
  const hosts = new Set(allowedHosts.map((h) => h.toLowerCase()));
  return z
    .string({ error: 'qr_code is required and must be a string' })
    .max(2048, 'qr_code must be at most 2048 characters')
    .superRefine((value, ctx) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'qr_code must be a URL like https://ofd.soliq.uz/check?t=…&r=…&c=…&s=…' });
        return;
      }
      if (url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'qr_code must use https' });
      if (!hosts.has(url.hostname.toLowerCase())) {
        ctx.addIssue({ code: 'custom', message: `qr_code host ${url.hostname} is not one of ${[...hosts].join(', ')}` });
      }
      const missing = RECEIPT_PARAMS.filter((p) => !url.searchParams.get(p));
      if (missing.length > 0) {
        ctx.addIssue({ code: 'custom', message: `qr_code is missing the receipt parameter(s) ${missing.join(', ')}` });
      }
    });
}
