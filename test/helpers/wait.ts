/** Polls `read` until `done` holds for its value (a condition, never a fixed sleep standing in for an event). */
export async function waitUntil<T>(read: () => Promise<T> | T, done: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Polls `read` until it gives something other than undefined or false, and returns that. */
export async function until<T>(what: string, read: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  return (await waitUntil(read, (value) => value !== undefined && value !== false, timeoutMs, what)) as T;
}
