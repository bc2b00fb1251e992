// Temporal connection options built from the configuration: plain gRPC by default, TLS with a CA and a server
// name, mTLS from files, an API key from the environment (which implies TLS). Bad files are named in the error;
// the key's content never is. No TLS server is needed: this checks the options the client and worker connect with.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../src/config/load.js';
import { temporalConnectionOptions } from '../src/temporalConnection.js';

const dir = mkdtempSync(join(tmpdir(), 'understudy-tls-'));
const pem = (label: string, body: string): string => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
const CA = join(dir, 'ca.pem');
const CERT = join(dir, 'client.pem');
const KEY = join(dir, 'client.key');
const NOT_PEM = join(dir, 'client.der');
writeFileSync(CA, pem('CERTIFICATE', 'Y2EtYm9keQ=='));
writeFileSync(CERT, pem('CERTIFICATE', 'Y2VydC1ib2R5'));
writeFileSync(KEY, pem('PRIVATE KEY', 'a2V5LWJvZHktc2VjcmV0LTdmM2E='));
writeFileSync(NOT_PEM, Buffer.from([0x30, 0x82, 0x01, 0x0a, 0x02, 0x82]));

const options = (yaml: string, env: NodeJS.ProcessEnv = {}) =>
  temporalConnectionOptions(parseConfigText(yaml, 'understudy.yaml', env));

function refusal(yaml: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    options(yaml, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  return expect.fail('the options were built');
}

describe('Temporal connection options', () => {
  it('are plain gRPC to the embedded dev server by default, with no API key', () => {
    expect(options('')).toEqual({ address: '127.0.0.1:17233', tls: undefined, apiKey: undefined });
  });

  it('use TLS with the configured CA and server name', () => {
    const built = options(
      `temporal:\n  address: temporal.example:7233\n  tls:\n    caFile: ${CA}\n    serverName: frontend.internal\n`,
    );
    expect(built.address).toBe('temporal.example:7233');
    expect(built.tls).toEqual({
      serverNameOverride: 'frontend.internal',
      serverRootCACertificate: Buffer.from(pem('CERTIFICATE', 'Y2EtYm9keQ==')),
      clientCertPair: undefined,
    });
  });

  it('read the mTLS certificate and key from their files', () => {
    const built = options(`temporal:\n  tls:\n    certFile: ${CERT}\n    keyFile: ${KEY}\n`);
    const tls = built.tls as { clientCertPair?: { crt: Buffer; key: Buffer } };
    expect(tls.clientCertPair?.crt.toString()).toContain('Y2VydC1ib2R5');
    expect(tls.clientCertPair?.key.toString()).toContain('a2V5LWJvZHktc2VjcmV0LTdmM2E=');
  });

  it('take the API key from the variable the file names, and turn TLS on for it', () => {
    const built = options('temporal:\n  address: ns.acct.tmprl.cloud:7233\n  apiKeyEnv: MY_TEMPORAL_KEY\n', {
      MY_TEMPORAL_KEY: 'key-from-env-31c9',
      TEMPORAL_API_KEY: 'not-this-one',
    });
    expect(built.apiKey).toBe('key-from-env-31c9');
    expect(built.tls).toEqual({
      serverNameOverride: undefined,
      serverRootCACertificate: undefined,
      clientCertPair: undefined,
    });
  });

  it.each([
    [
      'caFile',
      `temporal:\n  tls:\n    caFile: ${join(dir, 'absent-ca.pem')}\n`,
      /^temporal\.tls\.caFile: cannot read .*absent-ca\.pem: no such file$/,
    ],
    [
      'certFile',
      `temporal:\n  tls:\n    certFile: ${join(dir, 'absent.pem')}\n    keyFile: ${KEY}\n`,
      /^temporal\.tls\.certFile: cannot read .*absent\.pem: no such file$/,
    ],
    [
      'keyFile',
      `temporal:\n  tls:\n    certFile: ${CERT}\n    keyFile: ${dir}\n`,
      /^temporal\.tls\.keyFile: cannot read .*: it is a folder, not a file$/,
    ],
    [
      'caFile',
      `temporal:\n  tls:\n    caFile: ${NOT_PEM}\n`,
      /^temporal\.tls\.caFile: .*client\.der is not a PEM file/,
    ],
  ])('name the %s that cannot be used, and the file', (_field, yaml, expected) => {
    const error = refusal(yaml);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(expected);
  });

  it('never put the key file content into an error', () => {
    const error = refusal(`temporal:\n  tls:\n    certFile: ${NOT_PEM}\n    keyFile: ${KEY}\n`);
    expect(error.message).toMatch(/certFile: .*is not a PEM file/);
    expect(error.message).not.toContain('a2V5LWJvZHktc2VjcmV0LTdmM2E=');
  });
});
