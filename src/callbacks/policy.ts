import { z } from 'zod';
import type { Config } from '../config/env.js';
import { bareAddress, isIpLiteral, isLoopbackAddress } from './addresses.js';

/**
 * Where result callbacks may go (issue 17, no SSRF). A `callback_url` comes from the sales system's request, so it is
 * held to rules the operator sets: https (http only to a loopback host, for development), a host listed in
 * CALLBACK_ALLOWED_HOSTS (empty: no per-request URL at all), no credentials in the URL. CALLBACK_URL is the operator's
 * own and is checked at start-up (config/env.ts).
 *
 * The name is then checked again where it matters, at connect time (safe-dispatcher.ts): a listed name must still
 * resolve to public addresses, unless the operator trusts it with private ones explicitly (CALLBACK_PRIVATE_HOSTS; a
 * listed IP literal or `localhost` names its address itself; CALLBACK_URL's host is the operator's own).
 */

export const CALLBACK_URL_MAX_CHARS = 2048;

/** What the addresses a host resolves to must be: loopback (http), anything (trusted), or public only. */
export type AddressRule = 'loopback' | 'any' | 'public';

export class CallbackPolicy {
  private readonly allowed: ReadonlySet<string>;
  private readonly trusted: ReadonlySet<string>;

  constructor(callback: Readonly<Config['callback']>) {
    this.allowed = new Set(callback.allowedHosts.map(normalHost));
    const configured = callback.url ? [normalHost(new URL(callback.url).hostname)] : [];
    this.trusted = new Set([...callback.privateHosts.map(normalHost), ...configured]);
  }

  /** Why `raw` may not be a per-request callback URL, or undefined when it may. Messages name the field. */
  urlProblem(raw: string): string | undefined {
    if (raw.length > CALLBACK_URL_MAX_CHARS) return `callback_url must be at most ${CALLBACK_URL_MAX_CHARS} characters`;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return 'callback_url must be an absolute URL such as https://sales.example.com/fiscal-callbacks';
    }
    const host = normalHost(url.hostname);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackName(host))) {
      return 'callback_url must use https (http only to a loopback host such as 127.0.0.1, for development)';
    }
    if (url.username || url.password) return 'callback_url must not carry credentials (user:password@); callbacks are signed with CALLBACK_SECRET';
    if (this.allowed.size === 0) {
      return 'callback_url is not accepted: CALLBACK_ALLOWED_HOSTS is empty (the operator lists the hosts callbacks may go to there; without callback_url, CALLBACK_URL is used)';
    }
    if (!this.allowed.has(host)) return `callback_url host ${host} is not on CALLBACK_ALLOWED_HOSTS`;
    return undefined;
  }

  /** The rule for the addresses `hostname` resolves to, for a request over `protocol`. */
  addressRule(protocol: string, hostname: string): AddressRule {
    const host = normalHost(hostname);
    if (protocol === 'http:') return 'loopback';
    if (this.trusted.has(host)) return 'any';
    // A listed IP literal or localhost names its address itself: listing it is trusting that address.
    if ((isIpLiteral(host) || isLoopbackName(host)) && this.allowed.has(host)) return 'any';
    return 'public';
  }
}

/** `localhost` (RFC 6761) or a loopback IP literal; not any name that merely starts with `127.`. */
export function isLoopbackName(host: string): boolean {
  const normal = normalHost(host);
  return normal === 'localhost' || isLoopbackAddress(normal);
}

/** Lower case, IPv6 brackets dropped: `[::1]` and `::1`, `Hooks.Example.COM` and `hooks.example.com` are one host. */
export function normalHost(host: string): string {
  return bareAddress(host.toLowerCase());
}

/** The zod rule for `callback_url` in a request body (producers/schemas.ts). */
export function callbackUrlRule(config: Readonly<Config>) {
  const policy = new CallbackPolicy(config.callback);
  return z
    .string({ error: 'callback_url must be a string' })
    // The length is checked first and alone (`abort`): urlProblem checks it too, and zod would report it twice.
    .max(CALLBACK_URL_MAX_CHARS, { message: `callback_url must be at most ${CALLBACK_URL_MAX_CHARS} characters`, abort: true })
    .superRefine((value, ctx) => {
      const problem = policy.urlProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional();
}

/** What logs may show of a callback URL: origin and path. The query may carry a token, so it never appears. */
export function describeTarget(raw: string): string {
  try {
    const url = new URL(raw);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}
