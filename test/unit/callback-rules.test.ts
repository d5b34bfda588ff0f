import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isLoopbackAddress, isPublicAddress } from '../../src/callbacks/addresses.js';
import { CallbackPolicy, describeTarget } from '../../src/callbacks/policy.js';
import { signCallback, verifyCallback } from '../../src/callbacks/signature.js';
import { ConfigError, loadConfig } from '../../src/config/env.js';
import { confirmationSchema } from '../../src/producers/schemas.js';

// Issue 17: what a callback is signed with, where it may go, and the configuration that decides it. No I/O.

const SECRET = 'whsec-unit';
const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);
const T = Math.floor(NOW / 1000);

describe('callback signatures (X-Fiscal-Signature)', () => {
  const body = '{"id":"payme.p-1","state":"succeeded"}';

  it('signs "<t>.<raw body>" with HMAC-SHA256 and verifies it back', () => {
    const header = signCallback(body, SECRET, T);
    const hex = createHmac('sha256', SECRET).update(`${T}.${body}`).digest('hex');
    expect(header).toBe(`t=${T},v1=${hex}`);
    expect(verifyCallback(body, header, SECRET, 300, NOW)).toBe(true);
    expect(verifyCallback(Buffer.from(body), header, SECRET, 300, NOW)).toBe(true);
    expect(verifyCallback(body, [header], SECRET, 300, NOW)).toBe(true);
  });

  it('refuses another body, another secret, a stale or future timestamp, and malformed headers', () => {
    const header = signCallback(body, SECRET, T);
    expect(verifyCallback(`${body} `, header, SECRET, 300, NOW)).toBe(false);
    expect(verifyCallback(body, header, 'other', 300, NOW)).toBe(false);
    expect(verifyCallback(body, header, SECRET, 300, NOW + 301_000)).toBe(false);
    expect(verifyCallback(body, header, SECRET, 300, NOW - 301_000)).toBe(false);
    expect(verifyCallback(body, header, SECRET, 300, NOW + 299_000)).toBe(true);
    // The timestamp is signed: moving it invalidates the signature.
    expect(verifyCallback(body, header.replace(`t=${T}`, `t=${T + 1}`), SECRET, 300, NOW)).toBe(false);
    for (const bad of [undefined, null, '', 'v1=abc', `t=${T}`, `t=x,v1=${'0'.repeat(64)}`, `t=${T},v1=zz`, 'garbage']) {
      expect(verifyCallback(body, bad, SECRET, 300, NOW), String(bad)).toBe(false);
    }
    expect(verifyCallback(body, header, '', 300, NOW)).toBe(false);
  });

  it('accepts any of several v1 signatures, so a secret can rotate', () => {
    const old = signCallback(body, 'old-secret', T).split(',')[1];
    const current = signCallback(body, SECRET, T).split(',')[1];
    expect(verifyCallback(body, `t=${T},${old},${current}`, SECRET, 300, NOW)).toBe(true);
    expect(verifyCallback(body, `t=${T},${old}`, SECRET, 300, NOW)).toBe(false);
  });
});

describe('callback addresses', () => {
  it('tells public addresses from loopback, private, link-local and special ones', () => {
    for (const ip of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '[2a00:1450::1]']) expect(isPublicAddress(ip), ip).toBe(true);
    const notPublic = ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255',
      '::1', '::', 'fe80::1', 'fd00::1', '::ffff:10.0.0.1', '::ffff:127.0.0.1', '64:ff9b::a00:1', 'not-an-ip'];
    for (const ip of notPublic) expect(isPublicAddress(ip), ip).toBe(false);
    expect(isLoopbackAddress('127.8.9.10')).toBe(true);
    expect(isLoopbackAddress('[::1]')).toBe(true);
    expect(isLoopbackAddress('10.0.0.1')).toBe(false);
  });
});

describe('callback URL policy', () => {
  const policy = (env: Record<string, string>) => new CallbackPolicy(loadConfig({ CALLBACK_SECRET: 's', ...env }).callback);
  const listed = policy({ CALLBACK_ALLOWED_HOSTS: 'hooks.example.com,127.0.0.1,localhost,10.0.0.5,internal.example', CALLBACK_PRIVATE_HOSTS: 'internal.example' });

  it('accepts https on a listed host, and http only to a listed loopback host', () => {
    for (const ok of ['https://hooks.example.com/cb?token=1', 'https://HOOKS.example.com:8443/x', 'http://127.0.0.1:3001/cb', 'http://localhost/cb']) {
      expect(listed.urlProblem(ok), ok).toBeUndefined();
    }
  });

  it('names the field and the problem for everything else', () => {
    expect(listed.urlProblem('https://evil.example/cb')).toBe('callback_url host evil.example is not on CALLBACK_ALLOWED_HOSTS');
    expect(listed.urlProblem('http://hooks.example.com/cb')).toMatch(/^callback_url must use https/);
    expect(listed.urlProblem('http://127.evil.example/cb')).toMatch(/^callback_url must use https/);
    expect(listed.urlProblem('ftp://hooks.example.com/cb')).toMatch(/^callback_url must use https/);
    expect(listed.urlProblem('https://u:p@hooks.example.com/cb')).toMatch(/^callback_url must not carry credentials/);
    expect(listed.urlProblem('hooks.example.com/cb')).toMatch(/^callback_url must be an absolute URL/);
    expect(listed.urlProblem(`https://hooks.example.com/${'a'.repeat(2048)}`)).toBe('callback_url must be at most 2048 characters');
    expect(policy({}).urlProblem('https://hooks.example.com/cb')).toMatch(/^callback_url is not accepted: CALLBACK_ALLOWED_HOSTS is empty/);
  });

  it('an empty CALLBACK_ALLOWED_HOSTS refuses callback_url in the request schema, and CALLBACK_URL alone is valid', () => {
    const config = loadConfig({ CALLBACK_URL: 'https://sales.example.com/cb', CALLBACK_SECRET: 's' });
    const parsed = confirmationSchema(config).safeParse({ provider: 'payme', payment_id: 'p-1', qr_code: 'https://ofd.soliq.uz/check?t=1&r=2&c=3&s=4', callback_url: 'https://sales.example.com/cb' });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['callback_url', expect.stringContaining('CALLBACK_ALLOWED_HOSTS is empty')]]);
  });

  it('a callback_url over 2048 characters is one problem in the request schema, not the same one twice', () => {
    const config = loadConfig({ CALLBACK_SECRET: 's', CALLBACK_ALLOWED_HOSTS: 'hooks.example.com' });
    const parsed = confirmationSchema(config).safeParse({ provider: 'payme', payment_id: 'p-1', qr_code: 'https://ofd.soliq.uz/check?t=1&r=2&c=3&s=4', callback_url: `https://hooks.example.com/${'a'.repeat(2048)}` });
    expect(parsed.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['callback_url', 'callback_url must be at most 2048 characters']]);
  });

  it('decides which addresses a host may reach', () => {
    expect(listed.addressRule('https:', 'hooks.example.com')).toBe('public');
    expect(listed.addressRule('https:', 'internal.example')).toBe('any'); // CALLBACK_PRIVATE_HOSTS
    expect(listed.addressRule('https:', '10.0.0.5')).toBe('any'); // a listed IP literal names its address
    expect(listed.addressRule('https:', '10.0.0.6')).toBe('public');
    expect(listed.addressRule('http:', 'localhost')).toBe('loopback');
    const configured = policy({ CALLBACK_URL: 'https://crm.corp.example/cb' });
    expect(configured.addressRule('https:', 'crm.corp.example')).toBe('any'); // the operator's own CALLBACK_URL
  });

  it('logs show origin and path of a target, never its query', () => {
    expect(describeTarget('https://hooks.example.com:8443/cb/x?token=secret#f')).toBe('https://hooks.example.com:8443/cb/x');
  });
});

describe('callback configuration', () => {
  const problems = (env: Record<string, string>): string[] => {
    try {
      loadConfig(env);
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  };

  it('has a one-day retry window by default and reads the callback variables', () => {
    const c = loadConfig({ CALLBACK_ALLOWED_HOSTS: 'Hooks.Example.com, [::1]', CALLBACK_PRIVATE_HOSTS: 'hooks.example.com', CALLBACK_SECRET: 's', CALLBACK_RETRY_HOURS: '0.5' });
    expect(c.callback).toEqual({ url: '', secret: 's', allowedHosts: ['hooks.example.com', '::1'], privateHosts: ['hooks.example.com'], retryWindowMs: 1_800_000 });
    expect(loadConfig({}).callback.retryWindowMs).toBe(24 * 3_600_000);
  });

  it('names each bad callback variable', () => {
    expect(problems({ CALLBACK_ALLOWED_HOSTS: 'hooks.example.com' })).toEqual(['CALLBACK_SECRET: required when CALLBACK_ALLOWED_HOSTS is set']);
    expect(problems({ CALLBACK_URL: 'http://sales.example.com/cb', CALLBACK_SECRET: 's' })).toEqual([
      'CALLBACK_URL: must be an https URL (http only to a loopback host such as 127.0.0.1), without user:password@',
    ]);
    expect(problems({ CALLBACK_URL: 'http://127.0.0.1:3001/cb', CALLBACK_SECRET: 's' })).toEqual([]);
    expect(problems({ CALLBACK_ALLOWED_HOSTS: 'https://hooks.example.com/cb', CALLBACK_SECRET: 's' })).toEqual([
      'CALLBACK_ALLOWED_HOSTS: https://hooks.example.com/cb is not a host name; list host names only (e.g. hooks.example.com), without scheme, port or path',
    ]);
    expect(problems({ CALLBACK_ALLOWED_HOSTS: 'a.example', CALLBACK_PRIVATE_HOSTS: 'b.example', CALLBACK_SECRET: 's' })).toEqual([
      'CALLBACK_PRIVATE_HOSTS: b.example must also be on CALLBACK_ALLOWED_HOSTS',
    ]);
    for (const hours of ['0', '-1', 'abc', '721']) {
      expect(problems({ CALLBACK_RETRY_HOURS: hours }), hours).toEqual(['CALLBACK_RETRY_HOURS: must be a number of hours above 0, at most 720']);
    }
  });
});

describe('the package entry a receiver imports', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    main: string;
    types: string;
    bin: Record<string, string>;
    exports: Record<string, { types: string; default: string }>;
  };
  const source = (built: string) => new URL(`../../${built.replace(/^\.\/dist\//, 'src/').replace(/\.d\.ts$|\.js$/, '.ts')}`, import.meta.url);

  it('exports verifyCallback from `fiscal-worker` and `fiscal-worker/callbacks`, never the CLI', async () => {
    expect(Object.keys(pkg.exports)).toEqual(expect.arrayContaining(['.', './callbacks']));
    for (const entry of [pkg.exports['.']!, pkg.exports['./callbacks']!]) {
      expect(existsSync(source(entry.default)), entry.default).toBe(true);
      expect(source(entry.types).href).toBe(source(entry.default).href);
      expect(entry.default).not.toBe(`./${pkg.bin['fiscal-worker']}`);
    }
    expect(pkg.main).toBe(pkg.exports['.']!.default);
    const library = (await import('../../src/index.js')) as Record<string, unknown>;
    const callbacks = (await import('../../src/callbacks/signature.js')) as Record<string, unknown>;
    expect(library.verifyCallback).toBe(verifyCallback);
    expect(callbacks.verifyCallback).toBe(verifyCallback);
    // The signature module stands alone: a receiver loads it without the service's dependencies.
    expect(readFileSync(source(pkg.exports['./callbacks']!.default), 'utf8').match(/^import .* from '([^']+)'/gm)).toEqual([
      "import { createHmac, timingSafeEqual } from 'node:crypto'",
    ]);
  });
});
