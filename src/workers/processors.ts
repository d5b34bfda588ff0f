import type { Processor } from 'bullmq';
import type { ProviderSpec } from '../providers/spec.js';
import { confirmProcessorFactory } from './confirm-processor.js';
import { freedomPayProcessorFactory } from './freedompay-processor.js';
import { paymeGoProcessorFactory } from './payme-go-processor.js';
import type { ProcessorArgs } from './processor.js';

/** The one way a queue gets its processor: the registry row's `processor` names one of these. */
export function processorFor(args: ProcessorArgs): Processor {
  const { spec } = args;
  switch (spec.processor) {
    case 'confirm':
      return confirmProcessorFactory({ ...args, spec: asKind(spec, 'confirmation') });
    case 'charge':
      return paymeGoProcessorFactory({ ...args, spec: asKind(spec, 'payment') });
    case 'receipt':
      return freedomPayProcessorFactory({ ...args, spec: asKind(spec, 'receipt') });
  }
}

function asKind<K extends ProviderSpec['kind']>(spec: ProviderSpec, kind: K): Extract<ProviderSpec, { kind: K }> {
  if (spec.kind !== kind) throw new Error(`provider ${spec.name} is a ${spec.kind}, but its processor works ${kind}s`);
  return spec as Extract<ProviderSpec, { kind: K }>;
}
