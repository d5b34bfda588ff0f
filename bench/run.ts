/**
 * `npm run bench [-- --jobs N --seconds S]`: API throughput (autocannon) and worker throughput side by side with a
 * bare BullMQ + undici worker, written to docs/BENCHMARKS.md with the command and the machine.
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { benchApi } from './api.js';
import { benchWorker } from './worker.js';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '20000' }, seconds: { type: 'string', default: '10' }, out: { type: 'string', default: 'docs/BENCHMARKS.md' } } });
const jobs = Number(values.jobs);
const seconds = Number(values.seconds);

const api = await benchApi(seconds);
process.stderr.write(`api: ${JSON.stringify(api)}\n`);
const worker = await benchWorker(jobs);
process.stderr.write(`worker: ${JSON.stringify(worker)}\n`);
const [bare, ours] = worker;
const ratio = bare && ours ? ours.jobs_per_s / bare.jobs_per_s : NaN;

const table = (rows: object[]) => {
  const keys = Object.keys(rows[0] ?? {});
  return [`| ${keys.join(' | ')} |`, `| ${keys.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${keys.map((k) => String((r as Record<string, unknown>)[k])).join(' | ')} |`)].join('\n');
};

const md = `# Benchmarks

Produced by \`npm run bench -- --jobs ${jobs} --seconds ${seconds}\` on ${new Date().toISOString().slice(0, 10)},
${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}.
Everything runs on this one machine: a throwaway \`redis-server\`, the provider sandbox (in process), and the
product, so the figures are ratios on a shared 2-core box, not capacity planning numbers.

## Enqueue API (\`fiscal-worker api\`, autocannon, ${seconds} s each, unique payment ids)

${table(api)}

## Worker throughput vs a bare BullMQ + undici worker

Both drain ${jobs} pre-queued \`payme_confirm\` jobs against the sandbox with concurrency 50 on the same Redis.
The bare worker POSTs \`job.data\` with undici and parses the JSON answer; ours validates the answer with zod,
classifies it, records history, metrics and logs (to a null sink).

${table(worker)}

**Ratio: ${(ratio * 100).toFixed(1)} %** of the bare worker's jobs/s (target ≥ 85 %).
`;
writeFileSync(values.out!, md);
process.stderr.write(`written ${values.out}\n`);
