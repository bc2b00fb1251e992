/**
 * Request shapes of the simulator's HTTP API, validated before anything acts. The limits say what a real fleet can
 * hold: a request for a 0-core or a 100,000-core host is a mistake, refused with a message naming the field.
 */
import { z } from 'zod';
import { MAX_HEALTH_CHECK_BATCH } from '../provider/types.js';

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const id = (what: string) =>
  z
    .string()
    .regex(ID_PATTERN, `${what} must be 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit`);
const idempotencyKey = z
  .string()
  .min(1, 'idempotencyKey must not be empty')
  .max(200, 'idempotencyKey must be at most 200 characters');
const fraction = z
  .number()
  .gt(0, 'allocationFraction must be above 0')
  .max(1, 'allocationFraction must be at most 1 (the whole host)');

/** Host sizes a provider could plausibly offer. */
export const hostCapacitySchema = z.strictObject({
  cpuCores: z.number().min(1, 'cpuCores must be at least 1').max(1024, 'cpuCores must be at most 1024'),
  memoryGiB: z.number().min(1, 'memoryGiB must be at least 1').max(24_576, 'memoryGiB must be at most 24576'),
  storageIops: z
    .number()
    .min(100, 'storageIops must be at least 100')
    .max(10_000_000, 'storageIops must be at most 10000000'),
  networkMbps: z.number().min(10, 'networkMbps must be at least 10').max(400_000, 'networkMbps must be at most 400000'),
});

export const requirementsSchema = z.strictObject({
  cpuCores: z.number().min(0, 'cpuCores must not be negative').max(1024, 'cpuCores must be at most 1024'),
  memoryGiB: z.number().min(0, 'memoryGiB must not be negative').max(24_576, 'memoryGiB must be at most 24576'),
  storageIops: z
    .number()
    .min(0, 'storageIops must not be negative')
    .max(10_000_000, 'storageIops must be at most 10000000'),
  networkMbps: z.number().min(0, 'networkMbps must not be negative').max(400_000, 'networkMbps must be at most 400000'),
});

const level = z.number().min(-10).max(10);
const nonNegative = z.number().min(0).max(10);

export const demandSchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({
      kind: z.literal('synthetic'),
      base: z.number().min(0, 'base must not be negative').max(3, 'base must be at most 3'),
      daily: z.strictObject({ amplitude: level, peakHourUtc: z.number().min(0).max(24).optional() }).optional(),
      weekly: z.strictObject({ amplitude: level, peakDay: z.number().min(0).max(7).optional() }).optional(),
      monthly: z.strictObject({ amplitude: level, peakDayOfMonth: z.number().min(1).max(31).optional() }).optional(),
      trendPerDay: level.optional(),
      noise: nonNegative.optional(),
      spikes: z
        .strictObject({
          perDay: z.number().min(0).max(1440),
          magnitude: level,
          durationMinutes: z.number().gt(0).max(1440),
        })
        .optional(),
      driftPerDay: nonNegative.optional(),
      seed: z.number().int().optional(),
    }),
    z.strictObject({
      kind: z.literal('trace'),
      traceId: id('traceId'),
      peak: z.number().gt(0).max(3).optional(),
      offsetMinutes: z.number().min(0).optional(),
    }),
  ],
  { error: 'demand.kind must be "synthetic" or "trace"' },
);

export const provisionSchema = z.strictObject({
  idempotencyKey,
  hostId: id('hostId').optional(),
  region: id('region'),
  zone: id('zone'),
  capacity: hostCapacitySchema,
  role: z.enum(['primary', 'shadow'], { error: 'role must be "primary" or "shadow"' }),
  pairId: id('pairId').optional(),
  allocationFraction: fraction.optional(),
});

export const hostActionSchema = z.strictObject({ idempotencyKey });
export const activateSchema = z.strictObject({ idempotencyKey, allocationFraction: fraction.optional() });
export const resizeSchema = z.strictObject({ idempotencyKey, allocationFraction: fraction });
export const roleSchema = z.strictObject({
  idempotencyKey,
  role: z.enum(['primary', 'shadow'], { error: 'role must be "primary" or "shadow"' }),
});
export const configurationSchema = z.strictObject({
  idempotencyKey,
  desired: z
    .record(
      z
        .string()
        .regex(/^[A-Za-z0-9._/-]{1,200}$/, 'configuration keys must be 1-200 letters, digits, ".", "_", "/" or "-"'),
      z.union([z.string().max(10_000), z.number(), z.boolean()], {
        error: 'configuration values must be strings, numbers or booleans',
      }),
    )
    .refine((v) => Object.keys(v).length <= 1000, 'desired may hold at most 1000 keys'),
});
export const migrateSchema = z.strictObject({
  idempotencyKey,
  sourceHostId: id('sourceHostId'),
  targetHostId: id('targetHostId'),
});
export const startReplicationSchema = z.strictObject({
  idempotencyKey,
  sourceHostId: id('sourceHostId'),
  targetHostId: id('targetHostId'),
});
export const healthChecksSchema = z.strictObject({
  hostIds: z
    .array(id('hostIds[]'))
    .min(1, 'hostIds must name at least one host')
    .max(MAX_HEALTH_CHECK_BATCH, `hostIds takes at most ${MAX_HEALTH_CHECK_BATCH} hosts per call`),
});

export const verifyReplicationSchema = z.strictObject({
  sourceHostId: id('sourceHostId'),
  targetHostId: id('targetHostId'),
});

// ---- simulator control --------------------------------------------------------------------------------------------

export const createWorkloadSchema = z.strictObject({
  workloadId: id('workloadId'),
  hostId: id('hostId'),
  requirements: requirementsSchema,
  demand: demandSchema,
});

export const clockSchema = z.strictObject({
  speed: z.number().gt(0, 'speed must be above 0').max(100_000, 'speed must be at most 100000'),
});
export const advanceSchema = z.strictObject({
  seconds: z
    .number()
    .gt(0, 'seconds must be above 0')
    .max(90 * 86_400, 'seconds must be at most 90 days'),
});

const seconds = z.number().min(0, 'delays must not be negative').max(86_400, 'delays must be at most 86400 s');
export const delaysSchema = z.strictObject({
  provisionSeconds: seconds.optional(),
  activateSeconds: seconds.optional(),
  resizeSeconds: seconds.optional(),
  roleChangeSeconds: seconds.optional(),
  fenceSeconds: seconds.optional(),
  decommissionSeconds: seconds.optional(),
  migrateBaseSeconds: seconds.optional(),
  migrateSecondsPerGiB: seconds.optional(),
  configSyncSeconds: seconds.optional(),
  replicationStartSeconds: seconds.optional(),
});

const rate = z.number().min(0, 'rates must be 0 or more').max(1, 'rates must be at most 1');
export const apiFaultsSchema = z.strictObject({
  apiLatencyMs: z.number().min(0).max(60_000, 'apiLatencyMs must be at most 60000').optional(),
  apiErrorRate: rate.optional(),
  actionFailureRate: rate.optional(),
});

export const replicationSettingsSchema = z.strictObject({
  writesPerSecond: z.number().min(0).max(1_000_000).optional(),
  lagSeconds: z.number().min(0).max(3600).optional(),
});

export const zoneSchema = z.strictObject({ region: id('region'), zone: id('zone') });
export const regionSchema = z.strictObject({ region: id('region') });
export const flapSchema = z.strictObject({
  periodSeconds: z.number().min(1, 'periodSeconds must be at least 1').max(86_400),
});
export const degradeSchema = z.strictObject({ capacity: hostCapacitySchema.partial() });
/** A configuration the host cannot run (it crashes on applying it); absent `values` clears the fault. */
export const faultyConfigurationSchema = z.strictObject({
  values: configurationSchema.shape.desired.optional(),
});

export const seedSchema = z
  .strictObject({
    prefix: id('prefix'),
    count: z.number().int().min(1, 'count must be at least 1').max(100_000, 'count must be at most 100000'),
    regions: z.array(id('region')).min(1, 'regions must list at least one region'),
    capacity: hostCapacitySchema,
    workload: z.strictObject({ requirements: requirementsSchema, demand: demandSchema }).optional(),
    role: z.enum(['primary', 'shadow']).optional(),
    allocationFraction: z
      .number()
      .gt(0, 'allocationFraction must be above 0')
      .max(1, 'allocationFraction must be at most 1')
      .optional(),
  })
  .refine((seed) => seed.role === 'shadow' || seed.allocationFraction === undefined, {
    message: 'allocationFraction applies to shadows only (role: shadow)',
    path: ['allocationFraction'],
  })
  .refine((seed) => seed.role !== 'shadow' || seed.workload === undefined, {
    message: 'a shadow is seeded without a workload',
    path: ['workload'],
  });

/** One line per problem, each naming its field. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.length > 0 ? issue.path.join('.') : 'body';
      if (issue.code === 'unrecognized_keys') return `${field}: unknown field(s) ${issue.keys.join(', ')}`;
      return `${field}: ${issue.message}`;
    })
    .join('; ');
}
