/**
 * Loads a versioned model folder (`model.onnx` + `manifest.json`) into onnxruntime-node and scores batches.
 * The manifest is checked against the file (sha256) and against the graph (input and output names and widths)
 * before the model is used, so a corrupt or mismatched artifact fails here with its path, never mid-forecast.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';

const dimension = z.union([z.string(), z.number().int().positive()]);

export const manifestSchema = z.object({
  model_type: z.string().min(1),
  version: z.string().min(1),
  parameters: z.record(z.string(), z.unknown()),
  prediction_horizon: z.object({ minutes: z.number().positive(), steps: z.number().int().positive() }),
  inputs: z.array(z.object({ name: z.string(), shape: z.array(dimension), features: z.array(z.string()) })).min(1),
  outputs: z.array(z.object({ name: z.string(), shape: z.array(dimension) })).min(1),
  scaling: z.record(z.string(), z.unknown()),
  training_window: z.unknown(),
  backtest_metrics: z.record(z.string(), z.unknown()),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** When the trainer wrote this version (ISO-8601); absent for hand-built graphs such as the baselines. */
  trained_at: z.string().optional(),
});

export type ModelManifest = z.infer<typeof manifestSchema>;

/** A model artifact that cannot be used; the message names the file and what is wrong with it. */
export class ModelArtifactError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelArtifactError';
  }
}

export interface LoadedModel {
  dir: string;
  manifest: ModelManifest;
  /** Width of the (single) input's time axis. */
  inputSteps: number;
  /** Scores `rows` series at once; returns, per output name, one forecast array per row. */
  score(rows: Float32Array[]): Promise<Record<string, Float32Array[]>>;
  release(): Promise<void>;
}

function fixedWidth(shape: (string | number)[], what: string): number {
  const width = shape[1];
  if (shape.length !== 2 || typeof width !== 'number') {
    throw new ModelArtifactError(`${what}: shape must be [batch, <steps>], got ${JSON.stringify(shape)}`);
  }
  return width;
}

/** A model folder whose manifest, file hash and graph input/output names agree; any number of inputs. */
export interface OnnxArtifact {
  dir: string;
  manifest: ModelManifest;
  session: ort.InferenceSession;
}

/**
 * Opens `dir/model.onnx` after checking `dir/manifest.json` against the schema, the file's sha256 and the graph's
 * input and output names. Every failure is a ModelArtifactError naming the file.
 */
export async function openOnnxArtifact(dir: string, intraOpNumThreads = 1): Promise<OnnxArtifact> {
  const manifestPath = join(dir, 'manifest.json');
  const modelPath = join(dir, 'model.onnx');
  let manifest: ModelManifest;
  try {
    const parsed = manifestSchema.safeParse(JSON.parse(await readFile(manifestPath, 'utf8')));
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new ModelArtifactError(
        `${manifestPath}: ${first ? `${first.path.join('.')}: ${first.message}` : 'invalid'}`,
      );
    }
    manifest = parsed.data;
  } catch (error) {
    if (error instanceof ModelArtifactError) throw error;
    throw new ModelArtifactError(`${manifestPath}: cannot read the manifest: ${(error as Error).message}`);
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(modelPath);
  } catch (error) {
    throw new ModelArtifactError(`${modelPath}: cannot read the model: ${(error as Error).message}`);
  }
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== manifest.sha256) {
    throw new ModelArtifactError(`${modelPath}: sha256 ${digest} does not match the manifest's ${manifest.sha256}`);
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads });
  } catch (error) {
    throw new ModelArtifactError(`${modelPath}: onnxruntime cannot load it: ${(error as Error).message}`);
  }
  const graphInputs = [...session.inputNames].sort().join(', ');
  const manifestInputs = manifest.inputs
    .map((i) => i.name)
    .sort()
    .join(', ');
  const graphOutputs = [...session.outputNames].sort().join(', ');
  const manifestOutputs = manifest.outputs
    .map((o) => o.name)
    .sort()
    .join(', ');
  if (graphInputs !== manifestInputs || graphOutputs !== manifestOutputs) {
    await session.release();
    throw new ModelArtifactError(
      `${dir}: the manifest names input${manifest.inputs.length > 1 ? 's' : ''} ${manifestInputs} and outputs ` +
        `${manifestOutputs}, the graph has input${session.inputNames.length > 1 ? 's' : ''} ${graphInputs} ` +
        `and outputs ${graphOutputs}`,
    );
  }
  return { dir, manifest, session };
}

export async function loadOnnxModel(dir: string): Promise<LoadedModel> {
  const manifestPath = join(dir, 'manifest.json');
  const { manifest, session } = await openOnnxArtifact(dir);
  if (manifest.inputs.length !== 1) {
    await session.release();
    throw new ModelArtifactError(
      `${manifestPath}: inputs: exactly one input is supported, got ${manifest.inputs.length}`,
    );
  }
  const input = manifest.inputs[0]!;
  let inputSteps: number;
  try {
    inputSteps = fixedWidth(input.shape, `${manifestPath}: inputs.0`);
  } catch (error) {
    await session.release();
    throw error;
  }
  const manifestOutputs = manifest.outputs.map((o) => o.name).sort();
  const outputWidths = new Map(
    manifest.outputs.map((o) => [o.name, fixedWidth(o.shape, `${manifestPath}: outputs.${o.name}`)]),
  );

  return {
    dir,
    manifest,
    inputSteps,
    async score(rows) {
      if (rows.length === 0) return Object.fromEntries(manifestOutputs.map((name) => [name, []]));
      const batch = new Float32Array(rows.length * inputSteps);
      rows.forEach((row, i) => {
        if (row.length !== inputSteps) {
          throw new RangeError(`row ${i} has ${row.length} steps; ${dir} takes exactly ${inputSteps}`);
        }
        batch.set(row, i * inputSteps);
      });
      const results = await session.run({ [input.name]: new ort.Tensor('float32', batch, [rows.length, inputSteps]) });
      const out: Record<string, Float32Array[]> = {};
      for (const [name, width] of outputWidths) {
        const data = results[name]?.data;
        if (!(data instanceof Float32Array) || data.length !== rows.length * width) {
          throw new ModelArtifactError(`${dir}: output ${name} is not float32 [${rows.length}, ${width}]`);
        }
        out[name] = rows.map((_, i) => data.subarray(i * width, (i + 1) * width));
      }
      return out;
    },
    release: () => session.release(),
  };
}
