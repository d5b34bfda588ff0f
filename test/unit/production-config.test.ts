import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/env.js';
import { startupProblems } from '../../src/config/production.js';

/**
 * Issue 19: in production (NODE_ENV=production, the image's default) `api`/`serve` refuse to start without real
 * credentials and every service refuses a provider URL that is not https, unless the demo says SANDBOX_PROVIDERS=true,
 * and then every provider URL must be the sandbox's. One line per problem, naming the variable (CONTRACT §2).
 */

const REAL = {
  NODE_ENV: 'production',
  API_TOKENS: 'tok-0123456789abcdef',
  BOARD_USERNAME: 'ops',
  BOARD_PASSWORD: 'a-long-board-password',
  FISCALBOX_BASE_URL: 'https://fiscalbox.example.uz',
};

const problems = (env: Record<string, string>, servesApi = true): string[] => {
  try {
    loadConfig(env, (config) => startupProblems(config, servesApi));
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};
const names = (lines: string[]) => lines.map((line) => line.slice(0, line.indexOf(':')));

describe('start-up rules in production', () => {
  it('a complete production environment starts, api and worker alike', () => {
    expect(problems(REAL)).toEqual([]);
    expect(problems({ NODE_ENV: 'production', FISCALBOX_BASE_URL: 'https://fiscalbox.example.uz' }, false)).toEqual([]);
  });

  it('the API needs tokens and board credentials whatever HOST, and refuses placeholders', () => {
    expect(names(problems({ ...REAL, API_TOKENS: '', BOARD_USERNAME: '', BOARD_PASSWORD: '', HOST: '127.0.0.1' }))).toEqual([
      'API_TOKENS',
      'BOARD_USERNAME',
      'BOARD_PASSWORD',
    ]);
    const weak = problems({ ...REAL, API_TOKENS: 'dev-token,tok-0123456789abcdef', BOARD_PASSWORD: 'admin', BOARD_USERNAME: 'admin' });
    expect(weak).toEqual([
      'API_TOKENS: token 1 has 9 characters; in production every token needs at least 16',
      'BOARD_PASSWORD: has 5 characters; in production it needs at least 12',
    ]);
    expect(weak.join('\n')).not.toMatch(/dev-token|admin/); // never the values themselves
  });

  it('refuses plain-http provider URLs (the sandbox) without SANDBOX_PROVIDERS, in every mode', () => {
    const sandboxed = { ...REAL, FISCALBOX_BASE_URL: 'http://sandbox:8080', FREEDOMPAY_BASE_URL: 'http://user:pw@sandbox:8080/x' };
    for (const servesApi of [true, false]) {
      const lines = problems(sandboxed, servesApi);
      expect(names(lines)).toEqual(['FISCALBOX_BASE_URL', 'FREEDOMPAY_BASE_URL']);
      expect(lines[0]).toMatch(/must be an https URL of the real provider in production.*not http:\/\/sandbox:8080; .*SANDBOX_PROVIDERS=true/);
      expect(lines.join('\n')).not.toContain('pw');
    }
  });

  it('with SANDBOX_PROVIDERS=true every provider must be the sandbox: a half-moved deployment stops', () => {
    const demo = { ...REAL, SANDBOX_PROVIDERS: 'true', FISCALBOX_BASE_URL: 'http://sandbox:8080', FREEDOMPAY_BASE_URL: 'http://sandbox:8080' };
    expect(problems(demo)).toEqual([]);
    // FREEDOMPAY_BASE_URL forgotten: its default is the real provider.
    const { FREEDOMPAY_BASE_URL: _forgotten, ...halfMoved } = demo;
    expect(problems(halfMoved)).toEqual([
      'FREEDOMPAY_BASE_URL: SANDBOX_PROVIDERS=true, but https://api.freedompay.uz is a real provider; point every provider at the sandbox, or unset SANDBOX_PROVIDERS for real fiscalization',
    ]);
  });

  it('an empty variable is named, and the rules still report the rest in the same run', () => {
    expect(problems({ NODE_ENV: 'production', FISCALBOX_BASE_URL: '' })).toEqual([
      'FISCALBOX_BASE_URL: is empty; set it to a URL with protocol http: or https:',
      'API_TOKENS: required in production (NODE_ENV=production): comma-separated bearer tokens of at least 16 characters',
      'BOARD_USERNAME: required in production (NODE_ENV=production): the Bull Board user name',
      'BOARD_PASSWORD: required in production (NODE_ENV=production): at least 12 characters',
    ]);
  });

  it('outside production only the loopback rule applies', () => {
    expect(problems({ FISCALBOX_BASE_URL: 'http://127.0.0.1:8080', API_TOKENS: 'x' })).toEqual([]);
    expect(names(problems({ HOST: '0.0.0.0' }))).toEqual(['API_TOKENS', 'BOARD_USERNAME']);
  });
});
