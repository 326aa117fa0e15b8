import type { CommandModule } from 'yargs';
import type { Model, ValueInfo } from '../../onnx/ir';
import { numElements, type DType } from '../../onnx/tensor';
import type { ExternalRef } from '../../onnx/external-data';
import { readModelHeader } from '../../runtime/model-files';
import { resolveModelPath } from '../../runtime/load';
import { formatLoraTargets, loraTargetsReport } from '../lora-targets';

interface InspectArgs {
  file: string;
  json?: boolean;
  'lora-targets'?: string;
}

/** What `inspect` reports about a model file; `--json` prints exactly this object. */
export interface ModelSummary {
  file: string;
  bytes: number;
  irVersion: number;
  opsetImports: { domain: string; version: number }[];
  producer: { name: string; version: string };
  inputs: { name: string; dtype: DType; shape: (number | string)[] | null }[];
  outputs: { name: string; dtype: DType; shape: (number | string)[] | null }[];
  nodes: number;
  /** Op type -> count, most frequent first (ties by name). */
  ops: Record<string, number>;
  initializers: {
    count: number;
    /** Elements of float-typed initializers: the model's parameters. */
    parameters: number;
    /** Elements of all initializers, whatever the type. */
    elements: number;
    bytes: number;
  };
  /** Initializers kept in external files beside the model (counted in `initializers` too); null when none. */
  externalData: { tensors: number; bytes: number; files: string[] } | null;
  /** The `onnx-diffusion` metadata entry, parsed (a string when it is not JSON); null when absent. */
  onnxDiffusion: unknown;
  /** Other metadata_props entries. */
  metadata: Record<string, string>;
}

const FLOAT_TYPES = new Set<DType>(['float32', 'float16', 'float64']);
const BYTES: Record<DType, number> = { float32: 4, float16: 2, float64: 8, int64: 8, int32: 4, int8: 1, uint8: 1, bool: 1 };

/**
 * Reads and decodes FILE (a diffusers pipeline folder: its unet/model.onnx), turning file-system
 * failures into one-line errors naming the file. External data is checked (inside the folder, in
 * bounds, the right size) but not read: the weights' dims are all a summary needs.
 */
export function readModelFile(file: string): { model: Model; bytes: number; external: ExternalRef[]; file: string } {
  const resolved = resolveModelPath(file);
  return { ...readModelHeader(resolved), file: resolved };
}

function values(vs: ValueInfo[]): ModelSummary['inputs'] {
  return vs.map((v) => ({ name: v.name, dtype: v.dtype, shape: v.shape ? [...v.shape] : null }));
}

export function summarize(file: string, model: Model, size: number, external: readonly ExternalRef[] = []): ModelSummary {
  const g = model.graph;
  const counts = new Map<string, number>();
  for (const n of g.nodes) {
    const op = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType;
    counts.set(op, (counts.get(op) ?? 0) + 1);
  }
  const ops = Object.fromEntries([...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
  let parameters = 0;
  let elements = 0;
  let bytes = 0;
  for (const t of g.initializers.values()) {
    elements += t.size;
    bytes += t.size * BYTES[t.dtype];
    if (FLOAT_TYPES.has(t.dtype)) parameters += t.size;
  }
  let externalBytes = 0;
  for (const r of external) {
    const n = numElements(r.dims);
    elements += n;
    externalBytes += n * BYTES[r.dtype];
    if (FLOAT_TYPES.has(r.dtype)) parameters += n;
  }
  bytes += externalBytes;
  const metadata = { ...model.metadata };
  let onnxDiffusion: unknown = null;
  if ('onnx-diffusion' in metadata) {
    const raw = metadata['onnx-diffusion'];
    delete metadata['onnx-diffusion'];
    try {
      onnxDiffusion = JSON.parse(raw);
    } catch {
      onnxDiffusion = raw;
    }
  }
  return {
    file,
    bytes: size,
    irVersion: model.irVersion,
    opsetImports: model.opsetImports.map((o) => ({ domain: o.domain, version: o.version })),
    producer: { name: model.producerName, version: model.producerVersion },
    inputs: values(g.inputs),
    outputs: values(g.outputs),
    nodes: g.nodes.length,
    ops,
    initializers: { count: g.initializers.size + external.length, parameters, elements, bytes },
    externalData: external.length === 0 ? null : { tensors: external.length, bytes: externalBytes, files: [...new Set(external.map((r) => r.location))] },
    onnxDiffusion,
    metadata,
  };
}

const fmt = (n: number) => n.toLocaleString('en-US');
const shapeText = (s: (number | string)[] | null) => (s ? `[${s.join(', ')}]` : '[unknown]');

/** One line about the recipe in our metadata, e.g. `unet base 32, mults [1,2], eps, 1000 steps linear`. */
function recipeLine(meta: Record<string, unknown>): string | undefined {
  const r = (meta.recipe ?? meta) as Record<string, Record<string, unknown> | undefined>;
  const parts: string[] = [];
  if (r.image) parts.push(`image ${r.image.channels}x${r.image.size}x${r.image.size}`);
  if (r.unet) parts.push(`unet base ${r.unet.base}, mults [${String(r.unet.mults)}], ${r.unet.resBlocks} res blocks`);
  if (r.diffusion) parts.push(`${r.diffusion.timesteps} steps ${r.diffusion.schedule}, predicts ${r.diffusion.prediction}`);
  if (r.conditioning?.classes) parts.push(`${r.conditioning.classes} classes`);
  return parts.length ? parts.join('; ') : undefined;
}

export function formatSummary(s: ModelSummary): string {
  const lines: string[] = [];
  lines.push(`${s.file} (${fmt(s.bytes)} bytes)`);
  lines.push(`  IR version ${s.irVersion}; opsets ${s.opsetImports.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ')}`);
  lines.push(`  producer: ${s.producer.name || '(none)'}${s.producer.version ? ` ${s.producer.version}` : ''}`);
  lines.push('inputs:');
  for (const v of s.inputs) lines.push(`  ${v.name}: ${v.dtype} ${shapeText(v.shape)}`);
  lines.push('outputs:');
  for (const v of s.outputs) lines.push(`  ${v.name}: ${v.dtype} ${shapeText(v.shape)}`);
  lines.push(`parameters: ${fmt(s.initializers.parameters)} in ${fmt(s.initializers.count)} initializers (${fmt(s.initializers.bytes)} bytes)`);
  if (s.externalData) {
    lines.push(`external data: ${fmt(s.externalData.tensors)} initializers, ${fmt(s.externalData.bytes)} bytes in ${s.externalData.files.join(', ')}`);
  }
  lines.push(`ops (${fmt(s.nodes)} nodes):`);
  const width = Math.max(0, ...Object.keys(s.ops).map((k) => k.length));
  for (const [op, n] of Object.entries(s.ops)) lines.push(`  ${op.padEnd(width)}  ${String(n).padStart(5)}`);
  if (s.onnxDiffusion !== null) {
    lines.push('onnx-diffusion metadata:');
    if (typeof s.onnxDiffusion === 'object') {
      const meta = s.onnxDiffusion as Record<string, unknown>;
      const recipe = recipeLine(meta);
      if (recipe) lines.push(`  recipe: ${recipe}`);
      if (typeof meta.parameters === 'number') lines.push(`  parameters: ${fmt(meta.parameters)}`);
      lines.push(...JSON.stringify(meta, null, 2).split('\n').map((l) => `  ${l}`));
    } else lines.push(`  ${String(s.onnxDiffusion)}`);
  }
  const other = Object.entries(s.metadata);
  if (other.length) {
    lines.push('metadata:');
    for (const [k, v] of other) lines.push(`  ${k}: ${v}`);
  }
  return lines.join('\n');
}

export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <file>',
  describe: 'Show inputs, outputs, ops, parameters and metadata of an ONNX model',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'ONNX model file (its external data is checked, not read), a checkpoint folder, or a diffusers pipeline folder' })
      .option('json', { type: 'boolean', describe: 'Print one machine-readable JSON object' })
      .option('lora-targets', { type: 'string', describe: 'List the weights a --lora-targets pattern picks (presets attn, attn+ff, all-linear, all-linear+conv; globs; !excludes)' }),
  handler: (args) => {
    const { model, bytes, external, file } = readModelFile(args.file);
    if (args['lora-targets'] !== undefined) {
      const r = loraTargetsReport(model, args['lora-targets'], external);
      process.stdout.write(`${args.json ? JSON.stringify(r, null, 2) : formatLoraTargets(r)}\n`);
      return;
    }
    const s = summarize(file, model, bytes, external);
    process.stdout.write(`${args.json ? JSON.stringify(s, null, 2) : formatSummary(s)}\n`);
  },
};
