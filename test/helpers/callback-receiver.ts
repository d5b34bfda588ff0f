import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real sales-system receiver for result callbacks (issue 17): node:http (or https) on 127.0.0.1, port 0. Every POST
 * is recorded with its raw body and headers; `respond` decides the answer per request (a status, a redirect, or
 * `hold`: never answer, the connection stays open until the receiver stops). No vitest imports: scripts use it too.
 */

export interface ReceivedCallback {
  at: number;
  path: string;
  eventId: string;
  signature: string;
  body: string;
  headers: IncomingMessage['headers'];
}

export type Answer = number | 'hold' | { status: number; headers?: Record<string, string>; body?: string };

export interface Receiver {
  url: string;
  port: number;
  received: ReceivedCallback[];
  /** Decides each answer; default 200. */
  respond: (callback: ReceivedCallback, index: number) => Answer;
  /** Waits until `predicate` holds over what was received; polls, never a fixed sleep. */
  waitFor(predicate: (received: ReceivedCallback[]) => boolean, timeoutMs?: number, what?: string): Promise<ReceivedCallback[]>;
  /** Stops listening and drops every open connection (the receiver is down). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface ReceiverOptions {
  /** Serve https with this certificate (see selfSignedCertificate). */
  tls?: { key: string; cert: string };
}

export async function startReceiver(options: ReceiverOptions = {}): Promise<Receiver> {
  const received: ReceivedCallback[] = [];
  const sockets = new Set<Socket>();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const callback: ReceivedCallback = {
        at: Date.now(),
        path: req.url ?? '',
        eventId: String(req.headers['x-fiscal-event-id'] ?? ''),
        signature: String(req.headers['x-fiscal-signature'] ?? ''),
        body: Buffer.concat(chunks).toString('utf8'),
        headers: req.headers,
      };
      received.push(callback);
      const answer = receiver.respond(callback, received.length - 1);
      if (answer === 'hold') return;
      const { status, headers, body } = typeof answer === 'number' ? { status: answer, headers: {}, body: '' } : answer;
      res.writeHead(status, { 'content-type': 'text/plain', ...headers });
      res.end(body ?? '');
    });
  };
  const makeServer = (): Server => {
    const server = options.tls ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, handle) : createHttpServer(handle);
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    return server;
  };
  const listen = (server: Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });

  let server = makeServer();
  const port = await listen(server, 0);
  let running = true;
  const stop = async () => {
    if (!running) return;
    running = false;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };

  const receiver: Receiver = {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    received,
    respond: () => 200,
    async waitFor(predicate, timeoutMs = 15_000, what = 'the expected callbacks') {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(received)) {
        if (Date.now() > deadline) throw new Error(`receiver: ${what} did not arrive within ${timeoutMs} ms; got ${received.length}: ${received.map((r) => `${r.eventId}`).join(', ')}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return received;
    },
    stop,
    async restart() {
      if (running) return;
      server = makeServer();
      await listen(server, port);
      running = true;
    },
    close: stop,
  };
  return receiver;
}

/** A throwaway self-signed certificate (openssl) for `names`, for an https receiver the test trusts as its CA. */
export function selfSignedCertificate(names: readonly string[]): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fiscal-callback-tls-'));
  try {
    const san = names.map((name) => (/^[\d.]+$/.test(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${san}`,
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
