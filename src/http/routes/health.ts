import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Metrics } from '../../observability/metrics.js';
import type { ReadinessProbe } from '../../observability/readiness.js';

export interface HealthRouteDeps {
  metrics: Metrics;
  readiness: ReadinessProbe;
  /** Providers whose circuit is open in this process (workers only), listed on /readyz. */
  circuitsOpen?: () => string[];
}

export async function healthRoutes(app: FastifyInstance, deps: HealthRouteDeps): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const report = await deps.readiness.check({ circuitsOpen: deps.circuitsOpen?.() ?? [] });
    return reply.status(report.ready ? 200 : 503).send(report);
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });
}

export type { Redis };
