/** The metrics store the configuration names (InfluxDB 1.x or 2.x), for the worker and the CLI alike. */
import type { LoadedConfig } from '../config/load.js';
import { influxV1MetricsStore } from './influxV1Store.js';
import { influxV2MetricsStore } from './influxV2Store.js';
import type { MetricsStore } from './types.js';

export function metricsStoreFor(loaded: LoadedConfig): MetricsStore {
  return loaded.config.influx.version === 1 ? influxV1MetricsStore(loaded) : influxV2MetricsStore(loaded);
}
