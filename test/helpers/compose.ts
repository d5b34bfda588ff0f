import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from './deploy-queries.js';

/**
 * docker-compose.yml and the Dockerfile read the way Compose and Docker would, without either: no Docker engine or
 * Compose plugin is needed (the CI machine has neither). Compose's interpolation of `${VAR}` forms is reproduced, so
 * a service's environment can be rendered for a given shell environment or env file and handed to the product.
 */

type Volume = string | { type?: string; source?: string; target?: string };
export interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string; target?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  volumes?: Volume[];
  ports?: (string | number | { target?: number; published?: string | number; host_ip?: string })[];
  expose?: (string | number)[];
  profiles?: string[];
  container_name?: string;
  depends_on?: string[] | Record<string, { condition?: string; required?: boolean }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  stop_grace_period?: string;
}
export interface Compose {
  version?: unknown;
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

export const repoPath = (relative: string) => join(REPO_ROOT, relative);
export const readText = (relative: string) => readFileSync(repoPath(relative), 'utf8');
export const readYaml = <T>(relative: string) => parse(readText(relative), { merge: true }) as T;

export const compose = readYaml<Compose>('docker-compose.yml');
export const services = compose.services;

export function service(name: string): Service {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

/** What Compose says when a `${VAR:?message}` is unset or empty: it renders nothing and exits. */
export class ComposeInterpolationError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`required variable ${variable} is missing a value: ${message}`);
  }
}

/** Compose interpolation: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `${VAR?err}`, `${VAR:+alt}`, `${VAR+alt}`. */
export function interpolate(value: string, env: Readonly<Record<string, string>> = {}): string {
  return value.replace(/\$\$|\$\{(\w+)(?:(:?[-?+])([^}]*))?\}|\$(\w+)/g, (whole, braced, op, arg, bare) => {
    if (whole === '$$') return '$';
    const name = (braced ?? bare) as string;
    const set = env[name];
    const nonEmpty = set !== undefined && set !== '';
    switch (op as string | undefined) {
      case ':-':
        return nonEmpty ? set : (arg as string);
      case '-':
        return set ?? (arg as string);
      case ':?':
        if (!nonEmpty) throw new ComposeInterpolationError(name, arg as string);
        return set;
      case '?':
        if (set === undefined) throw new ComposeInterpolationError(name, arg as string);
        return set;
      case ':+':
        return nonEmpty ? (arg as string) : '';
      case '+':
        return set === undefined ? '' : (arg as string);
      default:
        return set ?? '';
    }
  });
}

/** The service's `environment:` as Compose renders it for `shell` (the shell environment, or an `--env-file`). */
export function serviceEnvironment(svc: Service, shell: Readonly<Record<string, string>> = {}): Record<string, string> {
  const raw = svc.environment ?? {};
  const entries = Array.isArray(raw)
    ? raw.map((line) => {
        const at = line.indexOf('=');
        return at < 0 ? [line, ''] : [line.slice(0, at), line.slice(at + 1)];
      })
    : Object.entries(raw).map(([key, value]) => [key, value === null ? '' : String(value)]);
  return Object.fromEntries(entries.map(([key, value]) => [key, interpolate(value ?? '', shell)]));
}

/** A Compose env file (`--env-file`): KEY=VALUE lines, `#` comments, optional quotes. */
export function parseEnvFile(relative: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readText(relative).split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match || line.trim().startsWith('#')) continue;
    out[match[1]!] = match[2]!.replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

/** The demo's values: `docker compose --env-file deploy/demo.env --profile demo up`. */
export const DEMO_ENV_FILE = 'deploy/demo.env';
export const DEMO_ENV = parseEnvFile(DEMO_ENV_FILE);

/** Published ports as Compose renders them: host address (empty = every interface), host port, container port. */
export function publishedPorts(svc: Service, shell: Readonly<Record<string, string>> = {}): { hostIp: string; published: string; target: string }[] {
  return (svc.ports ?? []).flatMap((port) => {
    if (typeof port === 'object') return port.published === undefined ? [] : [{ hostIp: port.host_ip ?? '', published: String(port.published), target: String(port.target ?? '') }];
    const parts = interpolate(String(port), shell).split(':');
    if (parts.length < 2) return []; // a container port only: not published on the host
    const target = parts.pop()!;
    const published = parts.pop()!;
    return [{ hostIp: parts.join(':'), published, target }];
  });
}

export const words = (command: string | string[] | undefined): string[] =>
  command === undefined ? [] : Array.isArray(command) ? command : command.trim().split(/\s+/);

export const isAppService = (svc: Service) => svc.build !== undefined || (svc.image ?? '').startsWith('fiscal-worker');
export const appServices = Object.entries(services).filter(([, svc]) => isAppService(svc));

// ---- Dockerfile --------------------------------------------------------------------------------------------------

export interface Instruction {
  keyword: string;
  args: string;
}

export function dockerfileInstructions(text: string): Instruction[] {
  return text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

export const dockerfile = dockerfileInstructions(readText('Dockerfile'));
const lastFrom = dockerfile.map((instruction) => instruction.keyword).lastIndexOf('FROM');
export const runtimeStage = dockerfile.slice(lastFrom);
export const last = (keyword: string) => runtimeStage.filter((instruction) => instruction.keyword === keyword).at(-1);
export const jsonArgs = (instruction: Instruction | undefined) => JSON.parse(instruction?.args ?? 'null') as string[] | null;

/** `ENV A=1 B=2` of the runtime stage (the `ENV A 1` form is legacy and not used here). */
export const imageEnv: Record<string, string> = Object.fromEntries(
  runtimeStage
    .filter((instruction) => instruction.keyword === 'ENV')
    .flatMap((instruction) => instruction.args.split(/\s+/))
    .map((pair) => pair.split('='))
    .filter((pair): pair is [string, string] => pair.length === 2),
);

export const effectiveCommand = (svc: Service) => (svc.command === undefined ? (jsonArgs(last('CMD')) ?? []) : words(svc.command));
/** What the container's process sees: the image's ENV, then the service's rendered `environment:`. */
export const effectiveEnv = (svc: Service, shell: Readonly<Record<string, string>> = {}) => ({ ...imageEnv, ...serviceEnvironment(svc, shell) });
