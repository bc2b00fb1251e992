/**
 * The schema of `understudy.yaml`, the one configuration file. Every field has a default that runs the embedded
 * stack on one machine, so an empty file (or none) is a valid configuration.
 *
 * Secrets never live here: the file names the environment variable that holds each one (`*Env` fields), and
 * `load.ts` refuses a file that carries a secret inline.
 */
import { z } from 'zod';
import { validateOffPeakSpec } from '../policy/offPeak.js';

const envVarName = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name (upper-case letters, digits and _)');

const port = z
  .number()
  .int('must be a whole number')
  .min(1024, 'must be 1024 or above')
  .max(65535, 'must be at most 65535');

const hostPort = z.string().regex(/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/, 'must be host:port, for example 127.0.0.1:17233');

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

const temporalTls = z.strictObject({
  /** Server name to verify the server certificate against, when it differs from the address's host. */
  serverName: z.string().min(1).optional(),
  /** PEM file of the CA that signed the server's certificate; the system roots when absent. */
  caFile: z.string().min(1).optional(),
  /** Client certificate and key for mTLS; both or neither. The key is a secret: it is read from the file. */
  certFile: z.string().min(1).optional(),
  keyFile: z.string().min(1).optional(),
});

export const temporalSchema = z.strictObject({
  address: hostPort.default('127.0.0.1:17233'),
  namespace: z.string().min(1, 'must not be empty').default('default'),
  /** TLS to the frontend (Temporal Cloud or a TLS-terminated cluster); absent means plain gRPC. */
  tls: temporalTls.optional(),
  /** Environment variable that holds a Temporal Cloud API key; unset variable means no API key. */
  apiKeyEnv: envVarName.default('TEMPORAL_API_KEY'),
});

export const influxSchema = z.discriminatedUnion(
  'version',
  [
    z.strictObject({
      version: z.literal(1),
      url: httpUrl.default('http://127.0.0.1:18086'),
      database: z.string().min(1, 'must not be empty').default('understudy'),
      usernameEnv: envVarName.default('UNDERSTUDY_INFLUX_USERNAME'),
      passwordEnv: envVarName.default('UNDERSTUDY_INFLUX_PASSWORD'),
    }),
    z.strictObject({
      version: z.literal(2),
      url: httpUrl,
      org: z.string().min(1, 'must not be empty'),
      bucket: z.string().min(1, 'must not be empty'),
      tokenEnv: envVarName.default('UNDERSTUDY_INFLUX_TOKEN'),
    }),
  ],
  { error: 'must be 1 (InfluxDB 1.x, the embedded default) or 2 (InfluxDB 2.x, 3.x or Cloud)' },
);

export const PROVIDER_KINDS = ['simulator', 'kubernetes'] as const;
export type ProviderKind = (typeof PROVIDER_KINDS)[number];

export const providerSchema = z.strictObject({
  /** The embedded fleet simulator, or a Kubernetes cluster (docs/kubernetes.md). */
  kind: z
    .enum(PROVIDER_KINDS, { error: 'must be "simulator" (the embedded fleet simulator) or "kubernetes"' })
    .default('simulator'),
  /** simulator: its base URL. */
  url: httpUrl.default('http://127.0.0.1:18090'),
  tokenEnv: envVarName.default('UNDERSTUDY_PROVIDER_TOKEN'),
  requestTimeoutMs: z
    .number()
    .int()
    .min(100, 'must be at least 100')
    .max(120_000, 'must be at most 120000')
    .default(5_000),
  /**
   * kubernetes: the kubeconfig file (relative to the project root), `in-cluster` for the pod's service account;
   * absent: the embedded test bed's, which `understudy stack up` starts.
   */
  kubeconfig: z.string().min(1, 'must not be empty').optional(),
  /** kubernetes: the namespace of the workloads' Deployments. */
  namespace: z
    .string()
    .regex(
      /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
      'must be a Kubernetes namespace name (lower-case letters, digits, -)',
    )
    .default('understudy'),
});

export const offPeakSchema = z
  .discriminatedUnion(
    'kind',
    [
      z.strictObject({
        kind: z.literal('cron'),
        cron: z.string().min(1, 'must not be empty'),
        timeZone: z.string().min(1, 'must be an IANA time zone, for example Europe/Paris'),
      }),
      z.strictObject({
        kind: z.literal('forecast'),
        windowMinutes: z
          .number()
          .int('must be whole minutes')
          .min(15, 'must be at least 15')
          .max(360, 'must be at most 360'),
      }),
    ],
    { error: 'kind must be "cron" (with cron and timeZone) or "forecast" (with windowMinutes)' },
  )
  // The cron and the zone are checked by the policy's own validator, the one the schedules are built with.
  .superRefine((spec, ctx) => {
    for (const message of validateOffPeakSpec(spec)) ctx.addIssue({ code: 'custom', message });
  });

export const policySchema = z
  .strictObject({
    /** Scale out when the forecast's peak over the horizon exceeds this utilisation (percent of capacity). */
    thresholdPercent: z.number().gt(0, 'must be above 0').max(100, 'must be at most 100').default(80),
    /** The forecast must fall this far below the threshold before a scale-back is considered. */
    hysteresisPercent: z.number().min(0, 'must be 0 or more').max(50, 'must be at most 50').default(10),
    /** Forecast horizons in minutes; the scaling trigger looks at the peak over each. */
    horizonsMinutes: z
      .array(z.number().int('must be whole minutes').positive('must be positive').max(1440, 'must be at most 1440'))
      .min(1, 'must list at least one horizon')
      .default([15, 60]),
    cooldownMinutes: z.number().min(0, 'must be 0 or more').default(10),
    /** Share of the primary's capacity a shadow holds while on standby. */
    shadowFraction: z.number().min(0.1, 'must be at least 0.1').max(0.2, 'must be at most 0.2').default(0.15),
    tickSeconds: z.number().min(1, 'must be at least 1').max(3600, 'must be at most 3600').default(15),
    healthCheckIntervalSeconds: z.number().min(1, 'must be at least 1').max(600, 'must be at most 600').default(5),
    failuresBeforeFailover: z
      .number()
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(20, 'must be at most 20')
      .default(3),
    /** Scale back only after every forecast peak stayed below threshold − hysteresis this long. */
    scaleBackAfterMinutes: z.number().min(0, 'must be 0 or more').max(1440, 'must be at most 1440').default(30),
    /** Record the decision the policy would take without acting on it. */
    forecastOnly: z.boolean().default(false),
    /** Scale out on the upper bound of the forecast's 80% interval (default), or on the point forecast. */
    scaleOutOn: z.enum(['upper', 'forecast'], { error: 'must be "upper" or "forecast"' }).default('upper'),
    /** When the off-peak role swap runs: a cron in the pair's time zone, or the history's quietest window. */
    offPeak: offPeakSchema.default({ kind: 'cron', cron: '0 3 * * *', timeZone: 'UTC' }),
  })
  // Checked only once the threshold itself is valid, so a bad threshold is reported once, not twice.
  .refine((p) => !(p.thresholdPercent > 0 && p.thresholdPercent <= 100) || p.hysteresisPercent < p.thresholdPercent, {
    path: ['hysteresisPercent'],
    message: 'must be below policy.thresholdPercent',
  });

/** Ports and folder of the services the project starts itself on one machine (`npm start`, `npm test`). */
export const embeddedSchema = z
  .strictObject({
    stateDir: z.string().min(1).default('.understudy'),
    temporalPort: port.default(17233),
    temporalUiPort: port.default(18233),
    influxPort: port.default(18086),
    simulatorPort: port.default(18090),
  })
  .refine((e) => new Set([e.temporalPort, e.temporalUiPort, e.influxPort, e.simulatorPort]).size === 4, {
    message: 'temporalPort, temporalUiPort, influxPort and simulatorPort must all differ',
  });

export const configSchema = z.strictObject({
  temporal: temporalSchema.default(temporalSchema.parse({})),
  influx: influxSchema.default(influxSchema.parse({ version: 1 })),
  provider: providerSchema.default(providerSchema.parse({})),
  policy: policySchema.default(policySchema.parse({})),
  embedded: embeddedSchema.default(embeddedSchema.parse({})),
});

export type UnderstudyConfig = z.infer<typeof configSchema>;
export type InfluxConfig = UnderstudyConfig['influx'];
export type PolicyConfig = UnderstudyConfig['policy'];
