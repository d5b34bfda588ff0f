import { createServer, connect, type Server, type Socket } from 'node:net';

/** A command as a client sent it: its name lower-cased, then its arguments. */
export type RedisCommand = readonly string[];

export interface RedisGate {
  /** `redis://127.0.0.1:<port>`: give it to the app as REDIS_URL. */
  url: string;
  /** From now on nothing reaches Redis: to the app, Redis holds the connection open and never answers (a freeze). */
  holdNow(): void;
  /**
   * Lets through the first command `matches` (and what came before it), then holds everything after it: a freeze that
   * starts exactly between two steps of a request. Resolves when that command has gone through.
   */
  holdAfter(matches: (command: RedisCommand) => boolean): Promise<void>;
  /** Resolves once a command has been held (the request is waiting on the frozen Redis). */
  holding(): Promise<void>;
  /** Sends everything held, in order, and lets commands through again. */
  release(): void;
  /** Every command that went through to Redis, in order, with when it was sent on (ms). */
  readonly passed: { command: RedisCommand; at: number }[];
  /** Bytes Redis sent back to the clients so far (what the app's reads cost on the wire). */
  readonly bytesFromRedis: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of a Redis that reads the commands clients send (RESP arrays, as ioredis writes them) and can
 * stop forwarding them at a chosen command. The app sees what it sees when Redis freezes (SIGSTOP): an open connection
 * and no answer; but the moment is exact, where a signal sent on seeing a command races the client's next round trip.
 */
export async function startRedisGate(upstreamPort: number): Promise<RedisGate> {
  const links = new Set<{ client: Socket; upstream: Socket; held: Buffer[] }>();
  const passed: { command: RedisCommand; at: number }[] = [];
  let held = false;
  let trigger: { matches: (command: RedisCommand) => boolean; passed: () => void } | undefined;
  let onHold: (() => void)[] = [];
  let bytesFromRedis = 0;

  const server: Server = createServer((client) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    const link = { client, upstream, held: [] as Buffer[] };
    links.add(link);
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const parsed = parseCommand(pending);
        if (!parsed) break;
        const bytes = pending.subarray(0, parsed.end);
        pending = pending.subarray(parsed.end);
        if (held || link.held.length > 0) {
          link.held.push(bytes);
          for (const resolve of onHold.splice(0)) resolve();
          continue;
        }
        upstream.write(bytes);
        passed.push({ command: parsed.command, at: Date.now() });
        if (trigger?.matches(parsed.command)) {
          held = true;
          const fired = trigger;
          trigger = undefined;
          fired.passed();
        }
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      bytesFromRedis += chunk.length;
      client.write(chunk);
    });
    const end = () => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    url: `redis://127.0.0.1:${port}`,
    passed,
    get bytesFromRedis() {
      return bytesFromRedis;
    },
    holdNow() {
      held = true;
    },
    holdAfter(matches) {
      return new Promise((resolve) => {
        trigger = { matches, passed: resolve };
      });
    },
    holding() {
      if ([...links].some((link) => link.held.length > 0)) return Promise.resolve();
      return new Promise((resolve) => onHold.push(resolve));
    },
    release() {
      held = false;
      trigger = undefined;
      for (const link of links) {
        for (const bytes of link.held.splice(0)) {
          link.upstream.write(bytes);
          const parsed = parseCommand(bytes);
          if (parsed) passed.push({ command: parsed.command, at: Date.now() });
        }
      }
    },
    async close() {
      onHold = [];
      for (const link of links) link.client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One RESP array of bulk strings from the start of `buffer`, or undefined while it is incomplete. */
function parseCommand(buffer: Buffer): { command: string[]; end: number } | undefined {
  const line = (from: number) => {
    const cr = buffer.indexOf('\r\n', from);
    return cr < 0 ? undefined : { text: buffer.toString('latin1', from + 1, cr), next: cr + 2 };
  };
  if (buffer.length === 0) return undefined;
  if (buffer[0] !== 0x2a) throw new Error(`redis gate: expected a RESP array, got ${JSON.stringify(buffer.toString('latin1', 0, 20))}`);
  const head = line(0);
  if (!head) return undefined;
  const count = Number(head.text);
  const command: string[] = [];
  let at = head.next;
  for (let i = 0; i < count; i++) {
    const size = line(at);
    if (!size) return undefined;
    const length = Number(size.text);
    if (buffer.length < size.next + length + 2) return undefined;
    command.push(buffer.toString('utf8', size.next, size.next + length));
    at = size.next + length + 2;
  }
  if (command[0] !== undefined) command[0] = command[0].toLowerCase();
  return { command, end: at };
}
