/**
 * Reads, validates and resolves the configuration at start-up. Every problem is reported at once, each naming
 * its field and what is allowed, so an operator fixes the file in one pass. Secrets are read from the environment
 * into a separate object that is never printed.
 */
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type ProviderKind, type UnderstudyConfig } from './schema.js';

export const DEFAULT_CONFIG_FILE = 'understudy.yaml';
export const CONFIG_FILE_ENV = 'UNDERSTUDY_CONFIG';

/** Thrown for an unreadable or invalid configuration; `problems` holds one line per field. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid configuration in ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Secret values resolved from the environment; absent when the variable is unset or empty. */
export interface Secrets {
  temporalApiKey?: string;
  influxUsername?: string;
  influxPassword?: string;
  influxToken?: string;
  providerToken?: string;
}

export interface LoadedConfig {
  /** The file it came from, or "defaults" when there was none. */
  source: string;
  config: UnderstudyConfig;
  /** Not enumerable, so `JSON.stringify` and `console.log` of a LoadedConfig never show a secret. */
  readonly secrets: Secrets;
}

/** Keys that would put a secret inline; each maps to the field that names its environment variable instead. */
const INLINE_SECRET_KEYS: Record<string, string> = {
  password: 'passwordEnv',
  username: 'usernameEnv',
  token: 'tokenEnv',
  apiKey: 'apiKeyEnv',
  key: 'keyFile',
};

function findInlineSecrets(value: unknown, path: string[] = []): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  const problems: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const here = [...path, key];
    const instead = INLINE_SECRET_KEYS[key];
    if (instead !== undefined) {
      problems.push(
        `${here.join('.')}: secrets are not read from the config file; set ${[...path, instead].join('.')} ` +
          `to the name of the environment variable (or file) that holds it`,
      );
    } else {
      problems.push(...findInlineSecrets(child, here));
    }
  }
  return problems;
}

function describeIssue(issue: z.core.$ZodIssue): string | undefined {
  const field = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.filter((k) => !(k in INLINE_SECRET_KEYS)); // already reported with a better message
    if (keys.length === 0) return undefined;
    const where = issue.path.length > 0 ? `${field}: ` : '';
    return `${where}unknown field${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}`;
  }
  // zod says "expected string, received undefined" for a field that is missing altogether.
  if (issue.code === 'invalid_type' && / received undefined$/.test(issue.message)) {
    return `${field}: is required (expected ${issue.expected})`;
  }
  return `${field}: ${issue.message}`;
}

/** Validates an already-parsed document. Exported for tests and for callers that build config in code. */
export function validateConfig(raw: unknown, source: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const document = raw ?? {};
  if (typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigError(source, [
      '(top level): must be a mapping of sections (temporal, influx, provider, policy, embedded)',
    ]);
  }
  const secretProblems = findInlineSecrets(document);
  const parsed = configSchema.safeParse(document);
  const problems = [
    ...secretProblems,
    ...(parsed.success ? [] : parsed.error.issues.map(describeIssue).filter((p) => p !== undefined)),
  ];
  if (problems.length > 0 || !parsed.success) throw new ConfigError(source, problems);

  const config = parsed.data;
  const fromEnv = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value === '' ? undefined : value;
  };
  const secrets: Secrets = {
    temporalApiKey: fromEnv(config.temporal.apiKeyEnv),
    providerToken: fromEnv(config.provider.tokenEnv),
    ...(config.influx.version === 1
      ? { influxUsername: fromEnv(config.influx.usernameEnv), influxPassword: fromEnv(config.influx.passwordEnv) }
      : { influxToken: fromEnv(config.influx.tokenEnv) }),
  };
  if (config.influx.version === 2 && secrets.influxToken === undefined) {
    throw new ConfigError(source, [
      `influx.tokenEnv: InfluxDB 2.x needs a token; the environment variable ${config.influx.tokenEnv} is not set`,
    ]);
  }
  const tls = config.temporal.tls;
  if (tls && (tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new ConfigError(source, ['temporal.tls: certFile and keyFile go together for mTLS; set both or neither']);
  }
  const loaded = { source, config } as LoadedConfig;
  Object.defineProperty(loaded, 'secrets', { value: secrets, enumerable: false });
  return loaded;
}

/** The same configuration and secrets with another `provider.kind` (the `--provider` option). */
export function withProviderKind(loaded: LoadedConfig, kind: ProviderKind): LoadedConfig {
  const config = { ...loaded.config, provider: { ...loaded.config.provider, kind } };
  const next = { source: loaded.source, config } as LoadedConfig;
  Object.defineProperty(next, 'secrets', { value: loaded.secrets, enumerable: false });
  return next;
}

/** Parses YAML text; a syntax error names the line and column. */
export function parseConfigText(text: string, source: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      source,
      document.errors.map((e) => {
        const at = e.linePos?.[0];
        return `${at ? `line ${at.line}, column ${at.col}` : 'YAML'}: ${e.message.split('\n')[0] ?? e.code}`;
      }),
    );
  }
  let value: unknown;
  try {
    value = document.toJS();
  } catch (error) {
    // The YAML library refuses documents whose aliases expand without bound ("billion laughs").
    throw new ConfigError(source, [`YAML: ${(error as Error).message}`]);
  }
  const problem = findUnplainValue(value);
  if (problem !== undefined) throw new ConfigError(source, [problem]);
  return validateConfig(value, source, env);
}

/**
 * The first value that is not plain data, described, or undefined: a node that contains itself (an anchor used
 * inside its own node parses into a cyclic object that every later check would recurse into without end), or a
 * tagged value such as `!!binary` that becomes a Buffer.
 */
function findUnplainValue(value: unknown, path: string[] = [], open = new Set<object>()): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const where = path.join('.') || '(top level)';
  if (open.has(value)) {
    return `${where}: a YAML alias refers to a node that contains it; the configuration must not be recursive`;
  }
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (!Array.isArray(value) && prototype !== Object.prototype && prototype !== null) {
    return `${where}: must be plain YAML (a mapping, list, string, number or boolean), not a tagged ${value.constructor.name}`;
  }
  open.add(value);
  for (const [key, child] of Object.entries(value)) {
    const found = findUnplainValue(child, [...path, key], open);
    if (found !== undefined) return found;
  }
  open.delete(value);
  return undefined;
}

/**
 * Loads the configuration: the file given, else `$UNDERSTUDY_CONFIG`, else `understudy.yaml` in the working
 * folder when it exists, else the defaults (the embedded stack).
 */
export function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const named = file ?? fromEnvOrUndefined(env[CONFIG_FILE_ENV]);
  const path = resolve(named ?? DEFAULT_CONFIG_FILE);
  if (named === undefined && !existsSync(path)) return validateConfig({}, 'defaults', env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new ConfigError(path, [`cannot read the config file: ${reason}`]);
  }
  return parseConfigText(text, path, env);
}

function fromEnvOrUndefined(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
