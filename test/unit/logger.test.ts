import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { createLogger, lazyChildLogger } from '../../src/observability/logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

describe('request loggers (lazyChildLogger)', () => {
  it('writes with the request id and the redaction of a real child', () => {
    const { lines, stream } = capture();
    const logger = createLogger('info', stream);
    const log = lazyChildLogger(logger, { req_id: 'r-1' }, {});
    log.info({ authorization: 'Bearer secret-token' }, 'request finished');
    log.child({ step: 'x' }).warn('nested');
    expect(lines).toEqual([
      expect.objectContaining({ req_id: 'r-1', authorization: '[redacted]', msg: 'request finished', level: 'info' }),
      expect.objectContaining({ req_id: 'r-1', step: 'x', msg: 'nested', level: 'warn' }),
    ]);
  });

  it('makes no child while nothing is written, and none for a level the logger leaves out', () => {
    const { lines, stream } = capture();
    const logger = createLogger('warn', stream);
    const child = vi.spyOn(logger, 'child');
    const log = lazyChildLogger(logger, { req_id: 'r-2' }, {});
    log.info('not written');
    log.debug('not written');
    expect(child).not.toHaveBeenCalled();
    expect(log.isLevelEnabled('info')).toBe(false);
    log.error('written');
    expect(child).toHaveBeenCalledTimes(1);
    log.error('again');
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines.map((l) => [l.req_id, l.msg])).toEqual([
      ['r-2', 'written'],
      ['r-2', 'again'],
    ]);
  });
});
