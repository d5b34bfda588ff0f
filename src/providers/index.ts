import { ConfigError, type Config } from '../config/env.js';
import { AUXILIARY_QUEUES } from '../domain/auxiliary-queues.js';
import { PROVIDERS, isProvider, type Provider, type ProviderKind } from '../domain/provider.js';
import { Layout } from '../infra/layout.js';
import { openLayout } from '../infra/layout-store.js';
import type { RedisClient } from '../infra/redis.js';
import { anor } from './anor.js';
import { click } from './click.js';
import { freedompay } from './freedompay.js';
import { paymeGo } from './payme-go.js';
import { payme } from './payme.js';
import type { ConfirmationSpec, PaymentSpec, ProviderSpec, ReceiptSpec } from './spec.js';
import { uzum } from './uzum.js';

/**
 * The provider registry: one row per provider (name, kind, id field, request schema, endpoint, classification,
 * processor). Queues, workers, API validation, OpenAPI, configuration (RATE_LIMIT_<P>), metrics labels, the board and
 * record look-ups are all derived from it; nothing else spells the provider set. TypeScript requires a row for every
 * name of domain/provider.ts and nothing more; a unit test holds each row's `name` equal to its key.
 */
export const REGISTRY = {
  payme,
  uzum,
  anor,
  click,
  payme_go: paymeGo,
  freedompay,
} as const satisfies { readonly [P in Provider]: ProviderSpec };

export const SPECS: readonly ProviderSpec[] = PROVIDERS.map((name) => REGISTRY[name]);

export function providerSpec(name: Provider): ProviderSpec {
  return REGISTRY[name];
}

/** The row of a name that came from outside (a record id, a query), if it is one. */
export function findSpec(name: string): ProviderSpec | undefined {
  return isProvider(name) ? REGISTRY[name] : undefined;
}

type SpecOfKind<K extends ProviderKind> = Extract<ConfirmationSpec | PaymentSpec | ReceiptSpec, { kind: K }>;

export function specsOfKind<K extends ProviderKind>(kind: K): SpecOfKind<K>[] {
  return SPECS.filter((spec): spec is SpecOfKind<K> => spec.kind === kind);
}

/** The one provider of a kind that has exactly one (payment: Payme Go; receipt: Freedom Pay). */
export function onlySpecOfKind<K extends 'payment' | 'receipt'>(kind: K): SpecOfKind<K> {
  const [spec, ...more] = specsOfKind(kind);
  if (!spec || more.length > 0) throw new Error(`expected exactly one ${kind} provider in the registry`);
  return spec;
}

export const CONFIRMATION_SPECS: readonly ConfirmationSpec[] = specsOfKind('confirmation');

/** Money moves or tax documents are made: such calls run at most once on every path (CONTRACT §4, §5). */
export function isMoneyProvider(name: Provider): boolean {
  return REGISTRY[name].kind !== 'confirmation';
}

/**
 * Where every queue's keys live (infra/layout.ts), with QUEUE_SHARDS applied to confirmation queues only: a money
 * record is found, claimed and tombstoned by its key alone, and its volume never needs more than one queue. On a
 * Redis Cluster, or with shards, the deployment's stored layout is read (or made) first (infra/layout-store.ts); a
 * single unsharded Redis needs nothing stored, so a process starts while Redis is still away.
 */
export async function layoutOf(config: Pick<Config, 'queuePrefix' | 'redisCluster' | 'queueShards'>, redis: RedisClient): Promise<Layout> {
  const shards: Partial<Record<Provider, number>> = {};
  const problems: string[] = [];
  for (const spec of SPECS) {
    const named = config.queueShards.byProvider[spec.name];
    if (spec.kind !== 'confirmation') {
      if (named !== undefined && named !== 1) problems.push(`QUEUE_SHARDS: ${spec.name} is a ${spec.kind} provider; only confirmation queues are sharded`);
      continue;
    }
    shards[spec.name] = named ?? config.queueShards.all ?? 1;
  }
  if (problems.length) throw new ConfigError(problems);
  const options = { queuePrefix: config.queuePrefix, cluster: config.redisCluster, shards };
  const sharded = Object.values(shards).some((n) => n > 1);
  return config.redisCluster || sharded ? openLayout(redis, options, AUXILIARY_QUEUES) : new Layout(options);
}

export { PROVIDERS, isProvider, type Provider, type ProviderKind };
export type { ConfirmationSpec, PaymentSpec, ProviderSpec, ReceiptSpec };
