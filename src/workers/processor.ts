import type { Processor } from 'bullmq';
import type { ConfirmationIntake } from '../domain/enqueue.js';
import type { ProviderSpec } from '../providers/spec.js';
import type { AttemptContext } from './attempt-runner.js';
import type { TransportPool } from './transport-pool.js';

/** What a processor may use beyond its provider's row: the flows that follow a job (a charge → its confirmation). */
export interface ProcessorDeps {
  confirmations: ConfirmationIntake;
}

export interface ProcessorArgs<S extends ProviderSpec = ProviderSpec> {
  spec: S;
  ctx: AttemptContext;
  transports: TransportPool;
  deps: ProcessorDeps;
}

/** Builds the BullMQ processor of one provider's queue. */
export type ProcessorFactory<S extends ProviderSpec = ProviderSpec> = (args: ProcessorArgs<S>) => Processor;
