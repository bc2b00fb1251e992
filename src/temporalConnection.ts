/** Connection options for Temporal from the configuration: plain gRPC, TLS/mTLS, or a Temporal Cloud API key. */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from '@temporalio/client';
import type { NativeConnectionOptions } from '@temporalio/worker';
import type { LoadedConfig } from './config/load.js';
import { ConfigError } from './config/load.js';

function readPem(source: string, field: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(source, [
      `${field}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    ]);
  }
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
