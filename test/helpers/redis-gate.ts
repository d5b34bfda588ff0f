import { createServer, connect, type Server, type Socket } from 'node:net';

/** A command as a client sent it: its name lower-cased, then its arguments. */
export type RedisCommand = readonly string[];
export type CommandMatch = (command: RedisCommand) => boolean;

export interface RedisGate {
  /** `redis://127.0.0.1:<port>`: give it to the app as REDIS_URL. */
  url: string;
  /** From now on nothing reaches Redis: to the app, Redis holds the connection open and never answers (a freeze). */
  holdNow(): void;
  /**
   * Lets through the next command that `matches` (and what comes before it, once released), then holds everything
   * after it: a freeze that starts exactly between two steps of a request. Resolves when that command has gone through.
   */
  holdAfter(matches: CommandMatch): Promise<void>;
  /** Resolves once a command is being held (the request waits on the frozen Redis). */
  holding(): Promise<void>;
  /** Sends what is held, in order, up to a `holdAfter` command if one is set, and lets commands through again. */
  release(): void;
  /** Every command that went through to Redis, in order, with when it went (ms). */
  readonly passed: { command: RedisCommand; at: number }[];
  /** Bytes Redis sent back to the clients so far (what the app's reads cost on the wire). */
  readonly bytesFromRedis: number;
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  upstream: Socket;
  /** Whole commands read from the client and not yet sent on. */
  queue: { command: string[]; bytes: Buffer }[];
}

/**
 * A TCP proxy in front of a Redis that reads the commands clients send (RESP arrays, as ioredis writes them) and can
 * stop forwarding them at a chosen command. The app sees what it sees when Redis freezes (SIGSTOP): an open connection
 * and no answer; but the moment is exact, where a signal sent on seeing a command races the client's next round trip.
 */
export async function startRedisGate(redisUrl: string): Promise<RedisGate> {
  const target = new URL(redisUrl);
  const links = new Set<Link>();
  const passed: { command: RedisCommand; at: number }[] = [];
  let held = false;
  let trigger: { matches: CommandMatch; passed: () => void } | undefined;
  let waiting: (() => void)[] = [];
  let bytesFromRedis = 0;

  const pump = (link: Link) => {
    while (!held && link.queue.length > 0) {
      const { command, bytes } = link.queue.shift()!;
      link.upstream.write(bytes);
      passed.push({ command, at: Date.now() });
      if (trigger?.matches(command)) {
        held = true;
        const fired = trigger;
        trigger = undefined;
        fired.passed();
      }
    }
    if (link.queue.length > 0) for (const resolve of waiting.splice(0)) resolve();
  };

  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    const link: Link = { client, upstream, queue: [] };
    links.add(link);
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (let parsed = parseCommand(pending); parsed; parsed = parseCommand(pending)) {
        link.queue.push({ command: parsed.command, bytes: pending.subarray(0, parsed.end) });
        pending = pending.subarray(parsed.end);
      }
      pump(link);
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
      if ([...links].some((link) => link.queue.length > 0)) return Promise.resolve();
      return new Promise((resolve) => waiting.push(resolve));
    },
    release() {
      held = false;
      for (const link of links) pump(link);
    },
    async close() {
      waiting = [];
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
