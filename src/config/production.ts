import { isLoopbackHost, type Config } from './env.js';

/** Shorter than this is a placeholder (`dev-token`, `changeme`), not a secret. */
export const MIN_TOKEN_LENGTH = 16;
export const MIN_BOARD_PASSWORD_LENGTH = 12;

type Checked = Pick<Config, 'host' | 'apiTokens' | 'board' | 'fiscalbox' | 'freedompay' | 'production' | 'sandboxProviders'>;

/**
 * What a process must refuse to start with (exit 78, one line per problem, CONTRACT §2), beyond single bad values.
 *
 * Everywhere: an HTTP server on a non-loopback HOST needs API tokens and board credentials.
 *
 * In production (NODE_ENV=production, the image's default) also (issue 19):
 * - the API (`serve`, `api`) needs real credentials whatever HOST: API tokens and a board password long enough not
 *   to be a placeholder;
 * - every provider URL is https. The sandbox speaks plain http, so a deployment left pointing at it (compose's demo
 *   values, one variable forgotten) stops here instead of "fiscalizing" against it and reporting success. The demo
 *   says SANDBOX_PROVIDERS=true, and then every provider URL must be the sandbox's: a deployment half moved to real
 *   providers stops too, rather than sending some receipts for real and others nowhere.
 */
export function startupProblems(config: Checked, servesApi: boolean): string[] {
  const problems: string[] = [];
  if (servesApi) problems.push(...(config.production ? productionCredentialProblems(config) : loopbackProblems(config)));
  if (config.production) problems.push(...providerUrlProblems(config));
  return problems;
}

function loopbackProblems(config: Checked): string[] {
  if (isLoopbackHost(config.host)) return [];
  const problems: string[] = [];
  if (config.apiTokens.length === 0) problems.push(`API_TOKENS: required when HOST (${config.host}) is not loopback`);
  if (!config.board.username) problems.push(`BOARD_USERNAME: required when HOST (${config.host}) is not loopback`);
  return problems;
}

function productionCredentialProblems(config: Checked): string[] {
  const problems: string[] = [];
  if (config.apiTokens.length === 0) {
    problems.push(`API_TOKENS: required in production (NODE_ENV=production): comma-separated bearer tokens of at least ${MIN_TOKEN_LENGTH} characters`);
  }
  config.apiTokens.forEach((token, i) => {
    if (token.length < MIN_TOKEN_LENGTH) {
      problems.push(`API_TOKENS: token ${i + 1} has ${token.length} characters; in production every token needs at least ${MIN_TOKEN_LENGTH}`);
    }
  });
  if (!config.board.username) problems.push('BOARD_USERNAME: required in production (NODE_ENV=production): the Bull Board user name');
  if (!config.board.password) {
    problems.push(`BOARD_PASSWORD: required in production (NODE_ENV=production): at least ${MIN_BOARD_PASSWORD_LENGTH} characters`);
  } else if (config.board.password.length < MIN_BOARD_PASSWORD_LENGTH) {
    problems.push(`BOARD_PASSWORD: has ${config.board.password.length} characters; in production it needs at least ${MIN_BOARD_PASSWORD_LENGTH}`);
  }
  return problems;
}

function providerUrlProblems(config: Checked): string[] {
  const urls = { FISCALBOX_BASE_URL: config.fiscalbox.baseUrl, FREEDOMPAY_BASE_URL: config.freedompay.baseUrl };
  const problems: string[] = [];
  for (const [name, value] of Object.entries(urls)) {
    const url = new URL(value);
    const shown = `${url.protocol}//${url.host}`; // never the path or credentials
    if (!config.sandboxProviders && url.protocol !== 'https:') {
      problems.push(`${name}: must be an https URL of the real provider in production (NODE_ENV=production), not ${shown}; only the demo against the sandbox sets SANDBOX_PROVIDERS=true`);
    }
    if (config.sandboxProviders && url.protocol === 'https:') {
      problems.push(`${name}: SANDBOX_PROVIDERS=true, but ${shown} is a real provider; point every provider at the sandbox, or unset SANDBOX_PROVIDERS for real fiscalization`);
    }
  }
  return problems;
}
