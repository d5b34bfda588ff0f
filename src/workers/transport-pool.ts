import type { Config } from '../config/env.js';
import { PROVIDERS } from '../domain/provider.js';
import type { ProviderBase } from '../providers/spec.js';
import { ProviderTransport } from '../providers/transport.js';

/** One keep-alive pool per provider base URL, shared by every provider that uses it. */
export class TransportPool {
  private readonly byBase = new Map<string, ProviderTransport>();
  constructor(private readonly config: Readonly<Config>) {}

  /** The pool for a registry row's `base`, with the credentials that base needs on every call. */
  for(base: ProviderBase): ProviderTransport {
    if (base === 'freedompay') return this.get(this.config.freedompay.baseUrl);
    const { baseUrl, token } = this.config.fiscalbox;
    return this.get(baseUrl, token ? { authorization: `Bearer ${token}` } : undefined);
  }

  private get(baseUrl: string, headers?: Record<string, string>): ProviderTransport {
    const key = `${baseUrl} ${JSON.stringify(headers ?? {})}`;
    let transport = this.byBase.get(key);
    if (!transport) {
      transport = new ProviderTransport(baseUrl, {
        timeoutMs: this.config.providerTimeoutMs,
        // Every provider on this base URL (FiscalBox serves most of them) runs WORKER_CONCURRENCY jobs at once; with
        // fewer sockets, calls would queue in the pool while PROVIDER_TIMEOUT_MS already runs, and time out unsent.
        connections: this.config.workerConcurrency * PROVIDERS.length,
        ...(headers ? { headers } : {}),
      });
      this.byBase.set(key, transport);
    }
    return transport;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.byBase.values()].map((t) => t.close()));
  }
}
