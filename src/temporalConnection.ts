/** Connection options for Temporal from the configuration: plain gRPC, TLS/mTLS, or a Temporal Cloud API key. */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from '@temporalio/client';
import type { NativeConnectionOptions } from '@temporalio/worker';
import type { LoadedConfig } from './config/load.js';
import { ConfigError } from './config/load.js';

const READ_FAILURES: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a folder, not a file',
};

/** Reads a PEM file named by the configuration; a problem names the field and the file, never the content. */
function readPem(source: string, field: string, file: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = (code && READ_FAILURES[code]) ?? code ?? (error as Error).message;
    throw new ConfigError(source, [`${field}: cannot read ${file}: ${reason}`]);
  }
  // Checked here rather than left to the TLS handshake, whose error names neither the field nor the file.
  if (!pem.includes('-----BEGIN ')) {
    throw new ConfigError(source, [`${field}: ${file} is not a PEM file (no "-----BEGIN" line)`]);
  }
  return pem;
}

/** Options shared by the client `Connection` and the worker's `NativeConnection`. */
export function temporalConnectionOptions(loaded: LoadedConfig): ConnectionOptions & NativeConnectionOptions {
  const { temporal } = loaded.config;
  const { tls } = temporal;
  const apiKey = loaded.secrets.temporalApiKey;
  return {
    address: temporal.address,
    // An API key implies TLS (Temporal Cloud refuses it in clear text).
    tls:
      tls || apiKey
        ? {
            serverNameOverride: tls?.serverName,
            serverRootCACertificate: tls?.caFile
              ? readPem(loaded.source, 'temporal.tls.caFile', tls.caFile)
              : undefined,
            clientCertPair:
              tls?.certFile && tls.keyFile
                ? {
                    crt: readPem(loaded.source, 'temporal.tls.certFile', tls.certFile),
                    key: readPem(loaded.source, 'temporal.tls.keyFile', tls.keyFile),
                  }
                : undefined,
          }
        : undefined,
    apiKey,
  };
}
