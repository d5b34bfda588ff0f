#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { buildApp, type AppMode } from './app.js';
import { ConfigError, loadConfig } from './config/env.js';
import { startupProblems } from './config/production.js';
import { PROVIDERS, type Provider } from './domain/provider.js';
import { createLogger, type Logger } from './observability/logger.js';
import { runReconcileCli } from './reconcile/cli.js';

const EX_USAGE = 2;
const EX_CONFIG = 78;

const USAGE = `usage: fiscal-worker <command>
  serve                         enqueue API + every provider worker + Bull Board + /metrics
  api                           enqueue API + Bull Board + /metrics
  worker [--providers a,b]      provider workers, /metrics and /healthz on METRICS_PORT
  enqueue FILE|- [--url URL [--token T | --token-file F]] [--rejects PATH] [--from-line N]
          [--retry-for SECONDS] [--batch-size N] [--concurrency N]
                                bulk producer: one JSON confirmation per line; summary on stdout;
                                exit 0 all accepted, 1 some invalid or conflicting, 2 could not run
  dead list [--provider P] [--limit N] [--json]
  dead replay (--all | --provider P | ID…) [--force]
  dead remove ID…
                                dead letters (the path of the API and the board); audit lines on stdout,
                                the rest on stderr; exit 0 done, 1 some skipped or not dead, 2 could not run
  reconcile freedompay --from YYYY-MM-DD --to YYYY-MM-DD [--json]
                                provider receipts vs local records; exit 0 same, 1 differences, 2 could not run
  sandbox [--port N] [--host H] [--max-calls N] [--max-records N]
                                the provider sandbox (every seed endpoint, with fault injection)
Configuration comes from the environment; see README.md.`;

function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function parseProviders(value: string | undefined): Provider[] | undefined {
  if (!value) return undefined;
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(PROVIDERS as readonly string[]).includes(n));
  if (unknown.length) fail(`--providers: unknown provider(s) ${unknown.join(', ')}; known: ${PROVIDERS.join(', ')}`, EX_USAGE);
  return names as Provider[];
}

/** Stop taking work, let active jobs finish within SHUTDOWN_TIMEOUT_MS, exit 0 (CONTRACT §1). */
function stopOnSignals(close: () => Promise<void>, logger: Logger): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    close()
      .then(() => {
        logger.info('stopped');
        logger.flush();
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'stop failed');
        logger.flush();
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

async function runService(mode: AppMode, args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { providers: { type: 'string' } }, strict: true });
  // The command's own start-up rules are checked with the environment, so one run names every problem (exit 78).
  const config = loadConfig(process.env, (c) => startupProblems(c, mode !== 'worker'));
  const logger = createLogger(config.logLevel);
  const app = await buildApp({ config, logger, mode, onLateConfigError: (err) => fail(err.problems.join('\n'), EX_CONFIG), ...(mode === 'worker' && values.providers ? { providers: parseProviders(values.providers)! } : {}) });
  stopOnSignals(() => app.close(), logger);
  await app.start();
}

/**
 * Runs a one-shot command whose first SIGINT/SIGTERM stops it cleanly (it says how far it went, e.g. the line to
 * resume from); a second one exits at once.
 */
async function untilInterrupted(run: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const interrupt = new AbortController();
  const onSignal = () => (interrupt.signal.aborted ? process.exit(EX_USAGE) : interrupt.abort());
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await run(interrupt.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
    case 'api':
    case 'worker':
      return runService(command, rest);
    case 'enqueue': {
      // Loaded on demand, like the sandbox: the services never load the progress bar.
      const { runEnqueueCli } = await import('./producers/bulk-cli.js');
      process.exitCode = await untilInterrupted((signal) =>
        runEnqueueCli(rest, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, loadConfig: () => loadConfig(process.env), signal }),
      );
      return;
    }
    case 'dead': {
      const { currentUser, runDeadCli } = await import('./operations/dead-cli.js');
      process.exitCode = await untilInterrupted((signal) =>
        runDeadCli(rest, { stdout: process.stdout, stderr: process.stderr, loadConfig: () => loadConfig(process.env), user: currentUser(), signal }),
      );
      return;
    }
    case 'reconcile':
      process.exitCode = await runReconcileCli(rest, loadConfig(process.env), { stdout: process.stdout, stderr: process.stderr });
      return;
    case 'sandbox': {
      const config = loadConfig(process.env);
      // Loaded on demand: production commands never load the sandbox.
      const { runSandboxCli } = await import('./sandbox/cli.js');
      await runSandboxCli(rest, {
        ...(config.fiscalbox.token ? { fiscalboxToken: config.fiscalbox.token } : {}),
        ...(config.freedompay.merchantId && config.freedompay.secretKey
          ? { freedompay: { merchantId: config.freedompay.merchantId, secretKey: config.freedompay.secretKey } }
          : {}),
      });
      return;
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      fail(`unknown command ${command}\n${USAGE}`, EX_USAGE);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) fail(err.problems.join('\n'), EX_CONFIG);
  if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) fail(`${err.message}\n${USAGE}`, EX_USAGE);
  fail(`fiscal-worker: ${err instanceof Error ? err.stack ?? err.message : String(err)}`, 1);
});
