// Bad-input corpus, configuration: each row is a config file an operator could write by mistake, loaded through
// the real loader from disk. Each must fail with a ConfigError whose lines name what is wrong, never a crash, never
// echoing a secret, and leave the file as it was. (test/config.test.ts holds the first cases; these are new.)
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'understudy-bad-config-'));

/** A YAML bomb: every level repeats the one below nine times (9^5 strings once expanded). */
const ALIAS_BOMB = [
  'a: &a ["x","x","x","x","x","x","x","x","x"]',
  'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
  'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
  'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
  'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
].join('\n');

// [what, file content, a problem line must match this, a string the message must not contain (a secret)]
const CORPUS: [string, string, RegExp, string?][] = [
  ['a tab as indentation', 'policy:\n\tthresholdPercent: 80\n', /^line 2, column 1: Tabs are not allowed/],
  [
    'a key given twice',
    'policy:\n  thresholdPercent: 80\n  thresholdPercent: 70\n',
    /^line 3, column 3: Map keys must be unique/,
  ],
  ['an unclosed flow list', 'policy: [1, 2\n', /^line 2, column 1: Flow sequence .* end with a \]/],
  ['an unterminated string', '"unterminated\n', /^line 2, column 1: Missing closing "quote/],
  [
    'two YAML documents',
    'policy:\n  tickSeconds: 5\n---\npolicy:\n  tickSeconds: 9\n',
    /^line 3, column 1: Source contains multiple documents/,
  ],
  [
    'an alias inside its own node',
    'policy: &p\n  x: *p\n',
    /^policy\.x: a YAML alias refers to a node that contains it/,
  ],
  ['an alias bomb', ALIAS_BOMB, /^YAML: Excessive alias count/],
  ['a !!binary tag', 'policy: !!binary aGVsbG8=\n', /^policy: must be plain YAML .* not a tagged Buffer/],
  [
    'a section that is a string',
    'temporal: "127.0.0.1:17233"\n',
    /^temporal: Invalid input: expected object, received string$/,
  ],
  [
    'a duration with a unit',
    'policy:\n  tickSeconds: "15s"\n',
    /^policy\.tickSeconds: Invalid input: expected number, received string$/,
  ],
  ['a negative cooldown', 'policy:\n  cooldownMinutes: -1\n', /^policy\.cooldownMinutes: must be 0 or more$/],
  [
    'a fractional failure count',
    'policy:\n  failuresBeforeFailover: 2.5\n',
    /^policy\.failuresBeforeFailover: must be a whole number$/,
  ],
  [
    'a boolean spelt "yes" in quotes',
    'policy:\n  forecastOnly: "yes"\n',
    /^policy\.forecastOnly: Invalid input: expected boolean/,
  ],
  [
    'one horizon instead of a list',
    'policy:\n  horizonsMinutes: 60\n',
    /^policy\.horizonsMinutes: Invalid input: expected array/,
  ],
  [
    'a threshold of .nan',
    'policy:\n  thresholdPercent: .nan\n',
    /^policy\.thresholdPercent: Invalid input: expected number, received NaN$/,
  ],
  ['a threshold of .inf', 'policy:\n  thresholdPercent: .inf\n', /^policy\.thresholdPercent: .*received Infinity$/],
  ['a null threshold', 'policy:\n  thresholdPercent: null\n', /^policy\.thresholdPercent: .*received null$/],
  [
    'a cron with four fields',
    'policy:\n  offPeak:\n    kind: cron\n    cron: "0 3 * *"\n    timeZone: UTC\n',
    /^policy\.offPeak: invalid cron '0 3 \* \*': .*has 4 fields; expected 5/,
  ],
  [
    'an unknown time zone',
    'policy:\n  offPeak:\n    kind: cron\n    cron: "0 3 * * *"\n    timeZone: Mars/Olympus\n',
    /^policy\.offPeak: unknown time zone 'Mars\/Olympus'/,
  ],
  [
    'a 5-minute forecast window',
    'policy:\n  offPeak:\n    kind: forecast\n    windowMinutes: 5\n',
    /^policy\.offPeak\.windowMinutes: must be at least 15$/,
  ],
  [
    'a 50 ms provider timeout',
    'provider:\n  requestTimeoutMs: 50\n',
    /^provider\.requestTimeoutMs: must be at least 100$/,
  ],
  [
    'a provider URL without a scheme',
    'provider:\n  url: 127.0.0.1:18090\n',
    /^provider\.url: must be an http:\/\/ or https:\/\/ URL$/,
  ],
  ['an address with no port', 'temporal:\n  address: "127.0.0.1:"\n', /^temporal\.address: must be host:port/],
  [
    'an address given as a URL',
    'temporal:\n  address: "http://127.0.0.1:17233"\n',
    /^temporal\.address: must be host:port/,
  ],
  ['a port above 65535', 'embedded:\n  simulatorPort: 70000\n', /^embedded\.simulatorPort: must be at most 65535$/],
  [
    'InfluxDB 2.x without a bucket',
    'influx:\n  version: 2\n  url: http://db:8086\n  org: o\n',
    /^influx\.bucket: is required \(expected string\)$/,
  ],
  ['an InfluxDB section without a version', 'influx:\n  database: x\n', /^influx\.version: must be 1 .* or 2/],
  ['a version written as a string', 'influx:\n  version: "1"\n', /^influx\.version: must be 1 .* or 2/],
  ['a misspelt TLS field', 'temporal:\n  tls:\n    caFlie: /ca.pem\n', /^temporal\.tls: unknown field "caFlie"$/],
  [
    'a client certificate without its key',
    'temporal:\n  tls:\n    certFile: /x.pem\n',
    /^temporal\.tls: certFile and keyFile go together/,
  ],
  [
    'an inline provider token',
    'provider:\n  token: tok-4d9f1c\n',
    /^provider\.token: secrets are not read from the config file; set provider\.tokenEnv/,
    'tok-4d9f1c',
  ],
  [
    'an inline Temporal API key',
    'temporal:\n  apiKey: sk-live-77ab\n',
    /^temporal\.apiKey: secrets are not read .* set temporal\.apiKeyEnv/,
    'sk-live-77ab',
  ],
  [
    'an inline mTLS key',
    'temporal:\n  tls:\n    key: "-----BEGIN PRIVATE KEY-----MIIEv"\n',
    /^temporal\.tls\.key: secrets are not read .* set temporal\.tls\.keyFile/,
    'MIIEv',
  ],
  [
    'an inline InfluxDB 2.x token',
    'influx:\n  version: 2\n  url: http://db:8086\n  org: o\n  bucket: b\n  token: t0k-91e2\n',
    /^influx\.token: secrets are not read .* set influx\.tokenEnv/,
    't0k-91e2',
  ],
  [
    'an inline InfluxDB user name',
    'influx:\n  version: 1\n  username: admin-5c3e\n',
    /^influx\.username: secrets are not read .* set influx\.usernameEnv/,
    'admin-5c3e',
  ],
];

describe('bad input: configuration files', () => {
  it.each(CORPUS)('refuses %s, naming what is wrong', (what, yaml, expected, secret) => {
    const file = join(dir, `${what.replace(/\W+/g, '-')}.yaml`);
    writeFileSync(file, yaml);
    const error = (() => {
      try {
        loadConfig(file, {});
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error, 'the file was accepted').toBeInstanceOf(ConfigError);
    const { problems, message } = error as ConfigError;
    expect(
      problems.some((p) => expected.test(p)),
      `no problem line matches ${expected}: ${problems.join(' | ')}`,
    ).toBe(true);
    expect(message).toContain(file);
    if (secret !== undefined) expect(message).not.toContain(secret);
    // Nothing changed: the loader only reads.
    expect(readFileSync(file, 'utf8')).toBe(yaml);
  });
});
