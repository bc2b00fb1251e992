/**
 * The fleet simulator as its own process: `tsx src/simulator/main.ts --port 18090 --state-dir DIR [options]`.
 * Stops cleanly on SIGTERM/SIGINT (state saved, queued metrics flushed).
 */
import { parseArgs } from 'node:util';
import { startSimulator } from './server.js';

const USAGE = `usage: simulator --port N --state-dir DIR [--speed 60] [--metrics-interval-seconds 60]
  [--influx-url http://127.0.0.1:18086 --influx-database understudy] [--start-at ISO-8601]
  [--token-env UNDERSTUDY_PROVIDER_TOKEN] [--influx-username-env VAR --influx-password-env VAR]`;

function fail(message: string): never {
  console.error(`simulator: ${message}\n${USAGE}`);
  process.exit(2);
}

function numberOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) fail(`--${name} must be a positive number, got "${value}"`);
  return n;
}

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'state-dir': { type: 'string' },
    speed: { type: 'string' },
    'metrics-interval-seconds': { type: 'string' },
    'influx-url': { type: 'string' },
    'influx-database': { type: 'string' },
    'influx-username-env': { type: 'string' },
    'influx-password-env': { type: 'string' },
    'start-at': { type: 'string' },
    'token-env': { type: 'string' },
  },
  strict: true,
});

// Port 0 picks a free port (tests); the chosen one is printed in the "listening on" line.
const port = values.port === undefined ? Number.NaN : Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail('--port must be a port number (0 for any free port)');
const stateDir = values['state-dir'] ?? fail('--state-dir is required');
const startAt = values['start-at'] === undefined ? undefined : new Date(values['start-at']);
if (startAt !== undefined && Number.isNaN(startAt.getTime())) fail('--start-at must be an ISO-8601 time');
const tokenEnv = values['token-env'] ?? 'UNDERSTUDY_PROVIDER_TOKEN';
const token = process.env[tokenEnv] || undefined;
const influxUrl = values['influx-url'];
const username = values['influx-username-env'] ? process.env[values['influx-username-env']] : undefined;
const password = values['influx-password-env'] ? process.env[values['influx-password-env']] : undefined;

const simulator = await startSimulator({
  port,
  stateDir,
  speed: numberOption(values.speed, 'speed', 60),
  metricsIntervalSeconds: numberOption(values['metrics-interval-seconds'], 'metrics-interval-seconds', 60),
  ...(startAt ? { startAt } : {}),
  ...(token ? { token } : {}),
  ...(influxUrl
    ? {
        influx: {
          url: influxUrl,
          database: values['influx-database'] ?? 'understudy',
          ...(username ? { username } : {}),
          ...(password ? { password } : {}),
        },
      }
    : {}),
});
console.log(`simulator: listening on ${simulator.url} (state in ${stateDir}${token ? ', token required' : ''})`);

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`simulator: ${signal}, saving state and stopping`);
  simulator.close().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
