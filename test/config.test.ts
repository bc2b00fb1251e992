import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfigText } from '../src/config/load.js';

/** Parses YAML and returns the problem lines, or [] when it is valid. */
function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfigText(yaml, 'test.yaml', env);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
}

describe('configuration', () => {
  it('an empty file is the embedded default', () => {
    const { config } = parseConfigText('', 'test.yaml', {});
    expect(config.temporal.address).toBe('127.0.0.1:17233');
    expect(config.influx).toMatchObject({ version: 1, url: 'http://127.0.0.1:18086', database: 'understudy' });
    expect(config.policy).toMatchObject({ thresholdPercent: 80, horizonsMinutes: [15, 60], shadowFraction: 0.15 });
  });

  it.each([
    ['policy:\n  thresholdPercent: 0\n', 'policy.thresholdPercent: must be above 0'],
    ['policy:\n  thresholdPercent: 101\n', 'policy.thresholdPercent: must be at most 100'],
    ['policy:\n  horizonsMinutes: [15, -5]\n', 'policy.horizonsMinutes.1: must be positive'],
    ['policy:\n  horizonsMinutes: []\n', 'policy.horizonsMinutes: must list at least one horizon'],
    ['policy:\n  shadowFraction: 0.5\n', 'policy.shadowFraction: must be at most 0.2'],
    [
      'policy:\n  thresholdPercent: 70\n  hysteresisPercent: 70\n',
      'policy.hysteresisPercent: must be below policy.thresholdPercent',
    ],
    [
      'policy:\n  thresholdPercent: "eighty"\n',
      'policy.thresholdPercent: Invalid input: expected number, received string',
    ],
    ['temporal:\n  address: localhost\n', 'temporal.address: must be host:port, for example 127.0.0.1:17233'],
    ['temporal:\n  adress: x:1\n', 'temporal: unknown field "adress"'],
    [
      'temporal:\n  apiKeyEnv: my-key\n',
      'temporal.apiKeyEnv: must be an environment variable name (upper-case letters, digits and _)',
    ],
    [
      'influx:\n  version: 3\n',
      'influx.version: must be 1 (InfluxDB 1.x, the embedded default) or 2 (InfluxDB 2.x, 3.x or Cloud)',
    ],
    ['influx:\n  version: 1\n  url: ftp://db\n', 'influx.url: must be an http:// or https:// URL'],
    ['provider:\n  kind: aws\n', 'provider.kind: must be "simulator" (the embedded fleet simulator) or "kubernetes"'],
    [
      'provider:\n  kind: kubernetes\n  namespace: Under_Study\n',
      'provider.namespace: must be a Kubernetes namespace name (lower-case letters, digits, -)',
    ],
    ['embedded:\n  temporalPort: 80\n', 'embedded.temporalPort: must be 1024 or above'],
    [
      'embedded:\n  influxPort: 17233\n',
      'embedded: temporalPort, temporalUiPort, influxPort and simulatorPort must all differ',
    ],
    ['surprise: 1\n', 'unknown field "surprise"'],
    ['- just\n- a list\n', '(top level): must be a mapping of sections (temporal, influx, provider, policy, embedded)'],
  ])('rejects %j with a message naming the field', (yaml, expected) => {
    expect(problems(yaml)).toContain(expected);
  });

  it('reports every problem at once, not only the first', () => {
    expect(problems('policy:\n  thresholdPercent: 0\n  tickSeconds: 0\ntemporal:\n  namespace: ""\n')).toHaveLength(3);
  });

  it('refuses a secret written into the file and never echoes its value', () => {
    const found = problems('influx:\n  version: 1\n  password: hunter2\n');
    expect(found).toEqual([
      'influx.password: secrets are not read from the config file; set influx.passwordEnv to the name of the environment variable (or file) that holds it',
    ]);
    expect(found.join('\n')).not.toContain('hunter2');
  });

  it('names the line of a YAML syntax error', () => {
    expect(problems('policy:\n  thresholdPercent: [80\n')[0]).toMatch(/^line \d+, column \d+: /);
  });

  it('reads secrets from the variables the file names, and keeps them out of JSON and logs', () => {
    const yaml =
      'influx:\n  version: 2\n  url: https://influx.example\n  org: ops\n  bucket: metrics\n  tokenEnv: MY_TOKEN\n';
    const loaded = parseConfigText(yaml, 'test.yaml', { MY_TOKEN: 's3cret-token', TEMPORAL_API_KEY: 'api-key-value' });
    expect(loaded.secrets).toEqual({
      influxToken: 's3cret-token',
      temporalApiKey: 'api-key-value',
      providerToken: undefined,
    });
    expect(JSON.stringify(loaded)).not.toContain('s3cret-token');
    expect(JSON.stringify(loaded)).not.toContain('api-key-value');
  });

  it('requires the token of an InfluxDB 2.x connection to be set', () => {
    expect(problems('influx:\n  version: 2\n  url: http://db:8086\n  org: o\n  bucket: b\n')).toEqual([
      'influx.tokenEnv: InfluxDB 2.x needs a token; the environment variable UNDERSTUDY_INFLUX_TOKEN is not set',
    ]);
  });

  it('takes the file from UNDERSTUDY_CONFIG and names a missing one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'understudy-config-'));
    const file = join(dir, 'fleet.yaml');
    writeFileSync(file, 'policy:\n  thresholdPercent: 75\n');
    expect(loadConfig(undefined, { UNDERSTUDY_CONFIG: file }).config.policy.thresholdPercent).toBe(75);
    expect(() => loadConfig(join(dir, 'absent.yaml'), {})).toThrow(
      /absent\.yaml:\n {2}- cannot read the config file: no such file/,
    );
  });
});
