import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { Agent, buildConnector } from 'undici';
import { bareAddress, isIpLiteral, isLoopbackAddress, isPublicAddress } from './addresses.js';
import type { AddressRule } from './policy.js';

/** The error code a refused address carries, so a delivery can tell it from a network failure. */
export const ADDRESS_REFUSED = 'ERR_CALLBACK_ADDRESS_REFUSED';

export class AddressRefusedError extends Error {
  readonly code = ADDRESS_REFUSED;
  constructor(host: string, address: string | undefined, rule: AddressRule) {
    const wanted = rule === 'loopback' ? 'a loopback address (plain http)' : 'public addresses';
    super(
      address
        ? `${host} resolved to ${address}; callbacks to this host may only reach ${wanted}` +
            (rule === 'public' ? ' (list the host in CALLBACK_PRIVATE_HOSTS to trust it with private addresses)' : '')
        : `${host} resolved to no address`,
    );
    this.name = 'AddressRefusedError';
  }
}

export interface SafeDispatcherOptions {
  /** PROVIDER_TIMEOUT_MS: the connect timeout ends inside it, as for provider calls (providers/transport.ts). */
  timeoutMs: number;
  connections: number;
  addressRule(protocol: string, hostname: string): AddressRule;
  /** Resolves names; DNS by default. Tests map made-up names to chosen addresses. */
  lookup?: LookupFunction;
  /** Extra trusted CA certificates (tests: a local https receiver's self-signed certificate). */
  ca?: string | Buffer;
}

const ALLOWS: Record<AddressRule, (address: string) => boolean> = {
  loopback: isLoopbackAddress,
  public: isPublicAddress,
  any: () => true,
};

/**
 * An undici Agent that checks every address it connects to (issue 17, SSRF). The check sits in the connector's DNS
 * lookup, the moment the socket picks its address, so a name that resolves to a public address when it is validated
 * and to 169.254.169.254 a second later (DNS rebinding) is still refused; IP literals, which skip the lookup, are
 * checked before connecting. Every address a name resolves to must pass, not only the first. Redirects are never
 * followed (undici follows none without its redirect interceptor), so a 3xx cannot lead anywhere else.
 */
export function createSafeDispatcher(options: SafeDispatcherOptions): Agent {
  const connectTimeout = Math.max(1, Math.min(10_000, Math.floor(options.timeoutMs / 2)));
  const resolve = options.lookup ?? (dnsLookup as LookupFunction);
  const connectors = new Map<AddressRule, buildConnector.connector>();
  for (const rule of Object.keys(ALLOWS) as AddressRule[]) {
    connectors.set(rule, buildConnector({ timeout: connectTimeout, lookup: guardedLookup(resolve, rule), ...(options.ca ? { ca: options.ca } : {}) }));
  }
  const connect: buildConnector.connector = (target, callback) => {
    const rule = options.addressRule(target.protocol, target.hostname);
    const host = bareAddress(target.hostname);
    if (isIpLiteral(host) && !ALLOWS[rule](host)) {
      callback(new AddressRefusedError(host, host, rule), null);
      return;
    }
    connectors.get(rule)!(target, callback);
  };
  return new Agent({ connect, connections: options.connections, keepAliveTimeout: 10_000 });
}

/** A lookup that resolves every address of the name and refuses them all if one breaks `rule`. */
export function guardedLookup(resolve: LookupFunction, rule: AddressRule): LookupFunction {
  const allows = ALLOWS[rule];
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, found, family) => {
      if (err) {
        callback(err, '', undefined);
        return;
      }
      const addresses: LookupAddress[] = Array.isArray(found) ? found : [{ address: found, family: family ?? 4 }];
      const refused = addresses.find((a) => !allows(a.address));
      if (refused || addresses.length === 0) {
        callback(new AddressRefusedError(hostname, refused?.address, rule), '', undefined);
        return;
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}
