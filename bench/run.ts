/**
 * `npm run bench [-- --runs 3 --only worker,latency]`: issue 18's table in one run — the product's built processes
 * against bare scripts on the same node_modules, Redis and sandbox — written to docs/BENCHMARKS.md with the date,
 * the versions, the command, each figure's median and spread, and whether it meets its target.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { benchCluster, type ClusterResult } from './scenarios/cluster.js';
import { benchBatch, benchSingle, type BatchResult, type SingleResult } from './scenarios/ingest.js';
import { benchLatency, benchServeMemory, type LatencyResult, type RetentionResult } from './scenarios/serve.js';
import { benchWorker, type MemoryResult, type WorkerResult } from './scenarios/worker.js';
import { DEPLOYED_NODE_OPTIONS } from './procs.js';
import { round, type Stat } from './support.js';

const SCENARIOS = ['single', 'batch', 'worker', 'slow', 'latency', 'serve', 'cluster'] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    jobs: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '10' },
    only: { type: 'string', default: SCENARIOS.join(',') },
    out: { type: 'string', default: 'docs/BENCHMARKS.md' },
  },
});
const runs = Number(values.runs);
const jobs = Number(values.jobs);
const seconds = Number(values.seconds);
const only = new Set(values.only!.split(',') as Scenario[]);
for (const name of only) if (!SCENARIOS.includes(name)) throw new Error(`--only: unknown scenario "${name}" (one of ${SCENARIOS.join(', ')})`);
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;

const results: {
  single?: SingleResult;
  batch?: BatchResult;
  worker?: { result: WorkerResult; memory: MemoryResult };
  slow?: { result: WorkerResult; memory: MemoryResult };
  latency?: LatencyResult;
  serve?: RetentionResult;
  cluster?: ClusterResult;
} = {};
if (only.has('single')) results.single = await benchSingle(runs, seconds);
if (only.has('batch')) results.batch = await benchBatch(runs, 20);
if (only.has('worker')) results.worker = await benchWorker({ runs, jobs, concurrency: 50, latencyMs: 0, logLevel: 'info' });
if (only.has('slow')) results.slow = await benchWorker({ runs, jobs, concurrency: 200, latencyMs: 100, logLevel: 'info' });
if (only.has('latency')) results.latency = await benchLatency(runs, 200, seconds);
if (only.has('serve')) results.serve = await benchServeMemory(runs, jobs, 6);
if (only.has('cluster')) results.cluster = await benchCluster(runs, jobs);

writeFileSync(values.out!, report());
process.stderr.write(`written ${values.out}\n`);

function report(): string {
  const rows: string[][] = [];
  const add = (path: string, bare: string, product: string, ratio: string, target: string, met: boolean) => rows.push([path, bare, product, ratio, target, met ? 'yes' : '**no**']);
  const pct = (n: number) => `${(n * 100).toFixed(1)} %`;
  const fmt = (s: Stat, unit = '') => `${s.median}${unit} (${s.min}–${s.max})`;
  const { single, batch, worker, slow, latency, serve, cluster } = results;
  if (single) {
    const ratio = single.product.median / single.bare.median;
    add('single `POST /v1/confirmations`, 50 connections, unique ids', `${fmt(single.bare, ' req/s')}, p99 ${single.bareP99.median} ms`, `${fmt(single.product, ' req/s')}, p99 ${single.productP99.median} ms`, pct(ratio), '≥ 70 %', ratio >= 0.7);
  }
  if (batch) {
    const ratio = batch.product.median / batch.bare.median;
    add('batch of 1000, sequential', `addBulk ${fmt(batch.bare, ' jobs/s')}`, fmt(batch.product, ' confirmations/s'), pct(ratio), '≥ 70 %', ratio >= 0.7);
  }
  if (worker) {
    const r = worker.result;
    add('worker, concurrency 50, 0 ms provider, stdout logging at info', fmt(r.bare, ' jobs/s'), fmt(r.product, ' jobs/s'), `${pct(r.ratio.median)} (${pct(r.ratio.min)}–${pct(r.ratio.max)})`, '≥ 85 % every run', r.ratio.min >= 0.85);
  }
  if (slow) {
    const ceiling = 200 / 0.1;
    const ratio = slow.result.product.min / ceiling;
    add('worker, concurrency 200, 100 ms provider', `${fmt(slow.result.bare, ' jobs/s')}; ceiling 200 ÷ 0.1 s = ${ceiling}/s`, fmt(slow.result.product, ' jobs/s'), `${pct(ratio)} of the ceiling (worst run)`, '≥ 90 %', ratio >= 0.9);
  }
  const memory = worker?.memory ?? slow?.memory;
  if (memory) {
    const ratio = memory.productWaitingBytes / memory.bareWaitingBytes;
    add(`Redis bytes per waiting confirmation (${jobs})`, `${memory.bareWaitingBytes} (job hash ${memory.bareJobHash})`, `${memory.productWaitingBytes} (job hash ${memory.productJobHash})`, `${round(ratio, 2)}×`, '≤ 1.5×', ratio <= 1.5);
    add('Redis bytes per succeeded record kept for retention', String(memory.bareKeptBytes), String(memory.productKeptBytes), `${round(memory.productKeptBytes / memory.bareKeptBytes, 2)}×`, '≤ 1,536 B', memory.productKeptBytes <= 1536);
  }
  if (worker) add('worker peak RSS under load (concurrency 50)', '—', fmt(worker.result.productPeakRssMiB, ' MiB'), '—', '≤ 200 MB', worker.result.productPeakRssMiB.max * 1.048576 <= 200);
  if (slow) add('worker peak RSS under load (concurrency 200)', '—', fmt(slow.result.productPeakRssMiB, ' MiB'), '—', '≤ 200 MB', slow.result.productPeakRssMiB.max * 1.048576 <= 200);
  if (latency) add(`accept → first provider call, ≈${latency.offeredPerSecond}/s offered (\`serve\`, info logging)`, '—', `p50 ${fmt(latency.p50, ' ms')}, p99 ${fmt(latency.p99, ' ms')}`, '—', 'p99 ≤ 20 ms', latency.p99.median <= 20);
  if (serve) {
    const m = serve.memoryMiB;
    add(`peak RSS of \`serve\` ingesting and processing ${serve.jobs}`, '—', fmt(serve.peakRssMiB, ' MiB'), '—', '≤ 200 MB', serve.peakRssMiB.max * 1.048576 <= 200);
    add('Redis after retention (MiB): before → all kept → retention passed', '—', `${m.before} → ${m.kept} → ${m.afterRetention}`, '—', 'flat', m.afterRetention - m.before <= Math.max(1, (m.kept - m.before) * 0.05));
  }
  if (cluster) {
    add(`3-master cluster, payme/uzum/anor, ${cluster.jobs} confirmations: busiest ÷ idlest master`, '—', `used_memory ${fmt(cluster.memorySpread, '×')}; ops/s ${fmt(cluster.opsSpread, '×')}`, '—', 'each ≤ 2×', cluster.memorySpread.max <= 2 && cluster.opsSpread.max <= 2);
  }

  const table = [['path', 'bare', 'product', 'ratio', 'target', 'met'], ['---', '---', '---', '---', '---', '---'], ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
  const perMaster = cluster
    ? `\n### Cluster, per master\n\n${cluster.masters.map((masters, run) => `- run ${run + 1}: ${masters.map((m) => `:${m.port} ${m.usedMemoryMiB} MiB, ${m.opsPerSecond} ops/s`).join('; ')}`).join('\n')}\n`
    : '';
  return `# Benchmarks

Produced by \`${command}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.

Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB. ${versions()}.

Every scenario ran ${runs} times; a figure is the median with the spread (min–max) in brackets. The product is the
built CLI (\`dist/main.js\`) as its own process, with the image's \`NODE_OPTIONS\` (\`${DEPLOYED_NODE_OPTIONS}\`), logging JSON to stdout (read and discarded by the parent, as a log
driver would): \`api\` at \`LOG_LEVEL=warn\`, \`worker\` and \`serve\` at \`info\`. Its counterparts are the bare scripts in
\`bench/bare/\` on the same \`node_modules\`, a fresh throwaway \`redis-server\` per scenario (per run for the worker)
and the same provider sandbox process. Bare and product runs alternate, so a busy moment on the machine falls on both.
Everything shares one machine, so the figures are ratios, not capacity planning numbers.

${table}
${perMaster}
## What each row is

- **single POST**: autocannon, 50 connections, ${seconds} s per run, each request a new payment id. Bare: fastify +
  zod + \`Queue.add\` with a job id (\`bench/bare/api.mjs\`). Product: \`fiscal-worker api\` with a bearer token.
- **batch**: 20 batches of 1000 sent one after the other over one connection. Bare: \`Queue.addBulk\` from a script,
  no HTTP at all (\`bench/bare/addbulk.mjs\`).
- **worker**: ${jobs} confirmations queued beforehand, drained by \`fiscal-worker worker --providers payme\` against
  \`bench/bare/worker.mjs\` (BullMQ \`Worker\` + undici POST + JSON parse) at the same concurrency on the same sandbox;
  jobs/s from the first completion to the last. The 100 ms row uses the sandbox's \`slow100\` directive.
- **Redis bytes**: \`used_memory\` growth divided by the jobs, waiting and then completed-and-kept; the job hash is
  \`MEMORY USAGE\` of one job.
- **accept → first call**: \`fiscal-worker serve\` offered ${latency?.offeredPerSecond ?? 200} confirmations/s one at a
  time; the sandbox's arrival time of each call minus the moment its POST was sent.
- **serve RSS / retention**: \`serve\` ingesting ${serve?.jobs ?? jobs} confirmations in batches of 1000 while its
  workers process them, \`RETENTION_DAYS\` of 6 s; Redis memory before, with every record kept, and after two sweeps.
- **cluster**: a fresh 3-master cluster (redis-server, no AOF), \`serve\` with \`REDIS_CLUSTER=true\`, the three
  providers' batches sent side by side; \`instantaneous_ops_per_sec\` sampled every 500 ms while the load ran.

## What the profiles showed (issue 18)

\`node --cpu-prof\` of the built \`api\` under the single-POST load and of \`worker\` draining 20,000 jobs, compared
with the bare scripts' profiles; \`--trace-gc\` and V8's sampling heap profiler for the collections. In order of
what each fix gave:

- **ioredis copies every script a connection knows onto each MULTI** (\`Pipeline\` constructor), and BullMQ defines
  sixty on the queues' connection: building the intake's MULTI cost more than the rest of a request. The intake now
  runs on a connection with no scripts defined, and a confirmation is one EVALSHA of a script composed of our read
  and index with BullMQ's own \`addStandardJob\` (\`src/producers/confirm-script.ts\`), sent as a prebuilt command.
  Single POST 3.0k → 5.9k → 13.5k req/s over the steps.
- **A shared sweep set of deadlines doubled the API's full collections**: whatever a deadline in the set reached
  survived young-generation collections and was promoted. A timer per waiting deadline, cleared when the work settles,
  does not (\`src/infra/deadline.ts\`).
- **\`AbortController\` per provider call** cost the worker ~3.5 µs and its finalization more; undici takes an
  EventEmitter as the signal, at a tenth of the cost (worker 5.6–5.9k → 7.1–7.5k jobs/s).
- **prom-client hashes labels on every write**, even through \`labels()\` children: the per-job counters and histograms
  are now additions to plain slots (\`src/observability/hot-metrics.ts\`), handed to prom-client when it collects.
- Smaller per-request items: no AbortSignal or hang-up listener unless a read wants one, no pino child unless the
  request logs, hooks with \`done\` instead of promises, no URL parse for a QR code already in normal form, one-shot
  sha256 for the bearer token, BullMQ's events stream capped at 1000 (nobody listens; 1.3 MB a busy queue).
- **Peak RSS** is V8 letting garbage grow the old generation before a full collection: the image's
  \`--max-old-space-size=256\` brings \`serve\` from 216–230 to ~165 MiB with no measurable cost (192 cost 5 %).

What is left between the product and bare BullMQ is the product's own work: a bearer-token check, the store
deadline, zod validation and QR normalization, the reference index and existing-data read in the script, a record
as the 202 answer and an access-log hook (API); the circuit's fast path, the classification, the attempt history,
four metric writes and the run policy (worker).

**Where the worker's remaining gap is** (a second look, 20,000 jobs at concurrency 50 on a quiet machine): the
product's worker process is the one saturated, 92 % busy through the drain against bare's 80 %, so its CPU per job is
its throughput. Busy time in the drain was 3.22 s against 2.86 s (161 against 143 µs a job): ~14 µs a job of the
product's own code (transport, attempt, circuit, metrics, classification), ~7 µs more garbage collection (73
scavenges against 65, each with twice the survivors: 245 against 123 ms), the rest in ioredis and BullMQ building and
parsing larger commands (the stored result carries the attempt beside the provider's data: sampled allocation 45 KB a
job against 31 KB). Redis does no more work for the product (\`INFO commandstats\`: 2.05 EVALSHA a job on both
sides, fewer Redis µs a job for the product), and the always-on BullMQ limiter (it carries the circuit's pause across
processes) made no measurable difference when removed. A larger young generation (\`--max-semi-space-size\` 32 and
64) cut the scavenges to 44 and 34 but not the time they took, and cost 10–60 MiB of RSS: not adopted. At 100 ms
and concurrency 200 the CPU is half idle and the gap is the time a job waits for the event loop behind its
neighbours, which shrinks with the same CPU per job. The ratios move by up to ten points between runs of the same
code on this shared 2-core machine (the bare worker alone: 5.9k–6.8k jobs/s, the bare API 12k–15.7k req/s, across the
day's runs), which decides whether a row lands just above or just below its line.
`;
}

function versions(): string {
  const pkg = (name: string) => (JSON.parse(readFileSync(`node_modules/${name}/package.json`, 'utf8')) as { version: string }).version;
  let redis = 'redis-server ?';
  try {
    redis = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/)?.[0].replace('v=', 'redis ') ?? redis;
  } catch {
    // reported as unknown
  }
  return `Node ${process.version}, bullmq ${pkg('bullmq')}, ioredis ${pkg('ioredis')}, undici ${pkg('undici')}, fastify ${pkg('fastify')}, ${redis}`;
}
