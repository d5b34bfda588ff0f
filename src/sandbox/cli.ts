import { pino } from 'pino';
import type { DestinationStream } from 'pino';
import { startSandbox, type Sandbox } from './server.js';

export interface SandboxCliEnv {
  port?: number;
  host?: string;
  fiscalboxToken?: string;
  freedompay?: { merchantId: string; secretKey: string };
}

export interface SandboxCliIo {
  /** Where the JSON log lines go; stdout by default. */
  destination?: DestinationStream;
  /** Called after a signal closed the sandbox; process.exit by default. */
  exit?: (code: number) => void;
}

/**
 * `fiscal-worker sandbox [--port N] [--host H] [--max-calls N] [--max-records N]`: starts the sandbox and prints one JSON line with its URL, which
 * scripts and e2e tests wait for. SIGTERM/SIGINT close it and exit 0. Flags win over `env` (already-validated config).
 */
export async function runSandboxCli(argv: string[], env: SandboxCliEnv, io: SandboxCliIo = {}): Promise<Sandbox> {
  const flags = parseFlags(argv);
  const logger = pino({ base: null }, io.destination ?? pino.destination({ fd: 1, sync: true }));
  const sandbox = await startSandbox({
    port: flags.port ?? env.port ?? 0,
    host: flags.host ?? env.host ?? '127.0.0.1',
    ...(flags.maxCalls !== undefined ? { maxCalls: flags.maxCalls } : {}),
    ...(flags.maxRecords !== undefined ? { maxRecords: flags.maxRecords } : {}),
    ...(env.fiscalboxToken ? { fiscalboxToken: env.fiscalboxToken } : {}),
    ...(env.freedompay ? { freedompay: env.freedompay } : {}),
  });
  logger.info({ url: sandbox.url }, 'sandbox listening');

  const exit = io.exit ?? ((code: number) => process.exit(code));
  const onSignal = (signal: NodeJS.Signals): void => {
    void stop().then(() => {
      logger.info({ signal }, 'sandbox closed');
      exit(0);
    });
  };
  const stop = async (): Promise<void> => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await sandbox.close();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  // Closing the returned sandbox directly also drops the signal handlers (tests start several).
  return { ...sandbox, close: stop };
}

interface Flags {
  port?: number;
  host?: string;
  maxCalls?: number;
  maxRecords?: number;
}

const COUNT_FLAGS = { '--max-calls': 'maxCalls', '--max-records': 'maxRecords' } as const;

function parseFlags(argv: string[]): Flags {
  const out: Flags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    if (name !== '--port' && name !== '--host' && !(name in COUNT_FLAGS)) continue;
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || value === '') throw new Error(`${name} needs a value`);
    if (name === '--host') out.host = value;
    else if (name === '--port') {
      const port = Number(value);
      if (!/^\d+$/.test(value) || port > 65_535) throw new Error(`--port must be an integer 0-65535, got "${value}"`);
      out.port = port;
    } else {
      const count = Number(value);
      if (!/^\d+$/.test(value) || count < 1 || !Number.isSafeInteger(count)) throw new Error(`${name} must be a whole number of at least 1, got "${value}"`);
      out[COUNT_FLAGS[name as keyof typeof COUNT_FLAGS]] = count;
    }
  }
  return out;
}
