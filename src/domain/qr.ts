import { z } from 'zod';

/** The Soliq OFD receipt parameters every fiscal QR URL carries (seeds 000–002: `?t=…&r=…&c=…&s=…`). */
const RECEIPT_PARAMS = ['t', 'r', 'c', 's'] as const;
const isReceiptParam = (name: string) => (RECEIPT_PARAMS as readonly string[]).includes(name);

/** RFC 3986 §2.3: characters whose percent-encoded and plain forms are the same URL. */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * One form of a fiscal receipt's URL, so two spellings of one receipt (spaces around it or its values, another
 * parameter order, an upper-case host, percent-encoding where none is needed) are one receipt: stored, compared and
 * sent to the provider in this form (issue 19). `https://<host>[:port]<path>?t=…&r=…&c=…&s=…`, then any other
 * parameter sorted by name, then value. Values are compared as decoded and trimmed, and sorted by code unit (never by
 * locale, which would make the form depend on the machine). Takes a URL `fiscalQrCode` accepted.
 */
export function normalizeQrCode(value: string): string {
  const url = new URL(value.trim());
  const params = new URLSearchParams();
  for (const name of RECEIPT_PARAMS) params.set(name, url.searchParams.get(name)!.trim());
  const others = [...url.searchParams.entries()].filter(([name]) => !isReceiptParam(name)).map(([name, v]): [string, string] => [name, v.trim()]);
  others.sort(([a, av], [b, bv]) => byCodeUnit(a, b) || byCodeUnit(av, bv));
  for (const [name, v] of others) params.append(name, v);
  return `${url.protocol}//${url.host.toLowerCase()}${normalizePath(url.pathname)}?${params.toString()}`;
}

/** RFC 3986 §6.2.2: `%65` is `e`, `%2f` is `%2F`; the WHATWG parser leaves both as written in a path. */
function normalizePath(path: string): string {
  return path.replace(/%[0-9A-Fa-f]{2}/g, (escape) => {
    const char = String.fromCharCode(Number.parseInt(escape.slice(1), 16));
    return UNRESERVED.test(char) ? char : escape.toUpperCase();
  });
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Receipt parameters given more than once with different values: which receipt is meant cannot be told. */
function ambiguousParams(url: URL): string[] {
  return RECEIPT_PARAMS.filter((name) => new Set(url.searchParams.getAll(name).map((v) => v.trim())).size > 1);
}

/**
 * A URL already in the normalized form: lower-case host, the four receipt parameters in order and nothing else, every
 * value of characters URLSearchParams writes as they are. Nearly every QR code arrives so (the OFD prints them so), and
 * it needs neither parse: it is its own normal form (issue 18: two URL parses were a tenth of a single POST's work).
 * No port, no dots in the path, no `~` in a value: those the URL parser or URLSearchParams would rewrite.
 */
const CANONICAL = /^https:\/\/([a-z0-9.-]+)\/(?:[A-Za-z0-9_-]+\/)*[A-Za-z0-9_-]*\?t=[A-Za-z0-9._-]+&r=[A-Za-z0-9._-]+&c=[A-Za-z0-9._-]+&s=[A-Za-z0-9._-]+$/;

/** A fiscal receipt's URL, validated (CONTRACT §3) and turned into its one normalized form. */
export function fiscalQrCode(allowedHosts: readonly string[]) {
  const hosts = new Set(allowedHosts.map((h) => h.toLowerCase()));
  const canonical = (value: string) => {
    const host = CANONICAL.exec(value)?.[1];
    return host !== undefined && hosts.has(host);
  };
  return z
    .string({ error: 'qr_code is required and must be a string' })
    .max(2048, 'qr_code must be at most 2048 characters')
    .superRefine((value, ctx) => {
      if (canonical(value)) return;
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
      const missing = RECEIPT_PARAMS.filter((p) => !url.searchParams.get(p)?.trim());
      if (missing.length > 0) {
        ctx.addIssue({ code: 'custom', message: `qr_code is missing the receipt parameter(s) ${missing.join(', ')}` });
      }
      const repeated = ambiguousParams(url);
      if (repeated.length > 0) {
        ctx.addIssue({ code: 'custom', message: `qr_code gives the receipt parameter(s) ${repeated.join(', ')} more than once with different values` });
      }
    })
    .transform((value) => (canonical(value) ? value : normalizeQrCode(value)));
}
