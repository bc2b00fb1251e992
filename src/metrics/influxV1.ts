/** The InfluxDB 1.x connection the worker and the CLI share, built from the configuration and its secrets. */
import { InfluxDB } from 'influx';
import type { LoadedConfig } from '../config/load.js';

export function connectInfluxV1(loaded: LoadedConfig): InfluxDB {
  const { influx } = loaded.config;
  if (influx.version !== 1) throw new Error('connectInfluxV1 needs influx.version 1');
  const url = new URL(influx.url);
  return new InfluxDB({
    host: url.hostname,
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    protocol: url.protocol === 'https:' ? 'https' : 'http',
    database: influx.database,
    username: loaded.secrets.influxUsername,
    password: loaded.secrets.influxPassword,
  });
}
