import type { Job } from 'bullmq';
import type { JobResult } from '../domain/record.js';
import type { ConfirmationJobData } from '../producers/schemas.js';
import type { ConfirmProvider } from '../providers/confirm-provider.js';
import type { ProviderTransport } from '../providers/transport.js';
import { runAttempt, type AttemptContext } from './attempt-runner.js';

/** Seeds 000–002: POST `{<id field>, qr_code}` and classify the answer. */
export function confirmProcessor(ctx: AttemptContext, provider: ConfirmProvider, transport: ProviderTransport) {
  return (job: Job<ConfirmationJobData>): Promise<JobResult> =>
    runAttempt(ctx, job, async () => {
      const data = job.data as Record<string, string>;
      const body = JSON.stringify({ [provider.idField]: data[provider.idField], qr_code: data.qr_code });
      const answer = await transport.send('POST', provider.path, body);
      return { answer, outcome: provider.classify(answer) };
    });
}
