/**
 * diffusers' ONNX pipeline folder as a model (Node): `model_index.json`, `unet/model.onnx` (+ its
 * external data), `unet/config.json` (optional: the conversion script writes none) and
 * `scheduler/scheduler_config.json`. The configs map onto ours through core/diffusers-config.ts;
 * what the folder cannot say (the latent size of a UNet without config.json) comes from the graph's
 * declared shape or the user's config, which wins key by key.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, DiffusionError, FileFormatError } from '../core/errors';
import { readTextLimited } from '../core/node/read-limits';
import { diffusionConfigFromScheduler, schedulerClassName, unetFolderConfig } from '../core/diffusers-config';
import { isObj, Obj } from '../core/schema';
import { ROLE_NAMES } from '../core/model-config';
import type { Model } from '../onnx/ir';
import type { ExternalRef } from '../onnx/external-data';

/** Schedulers whose config maps onto the project's samplers (their keys mean the same schedule). */
const SCHEDULER_CLASSES = [
  'DDIMScheduler', 'DDPMScheduler', 'PNDMScheduler', 'LMSDiscreteScheduler', 'EulerDiscreteScheduler',
  'EulerAncestralDiscreteScheduler', 'DPMSolverMultistepScheduler', 'DPMSolverSinglestepScheduler',
  'HeunDiscreteScheduler', 'UniPCMultistepScheduler', 'KDPM2DiscreteScheduler', 'DEISMultistepScheduler',
];

function readJson(file: string, what: string): unknown {
  const text = readTextLimited(file, 'json', what);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FileFormatError(file, `invalid JSON: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** The pipeline folder `dir` is, or undefined: a folder with model_index.json. */
export function isDiffusersFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'model_index.json'));
}

/** The pipeline folder a UNet file sits in (DIR/unet/model.onnx), or undefined. */
export function diffusersFolderOf(modelFile: string): string | undefined {
  const unet = path.dirname(path.resolve(modelFile));
  const root = path.dirname(unet);
  return path.basename(unet) === 'unet' && isDiffusersFolder(root) ? root : undefined;
}

/** The UNet file of a pipeline folder, after checking model_index.json lists one. */
export function diffusersUnetFile(root: string): string {
  const index = path.join(root, 'model_index.json');
  const json = readJson(index, 'model_index.json');
  if (!isObj(json)) throw new FileFormatError(index, 'expected a JSON object');
  if (json.unet === undefined || json.unet === null) {
    throw new FileFormatError(index, `lists no "unet" (components: ${Object.keys(json).filter((k) => !k.startsWith('_')).join(', ')}); onnx-diffusion samples UNet pipelines`);
  }
  const file = path.join(root, 'unet', 'model.onnx');
  if (!fs.existsSync(file)) throw new FileFormatError(root, 'model_index.json lists a unet but unet/model.onnx is missing');
  return file;
}

/**
 * diffusers' OnnxStableDiffusion*Pipeline samples at height = width = 512 by default, latents
 * height // 8 (pipeline_onnx_stable_diffusion.py, `__call__`): the size such a folder runs at
 * when neither the folder nor the user says.
 */
const SD_DEFAULT_LATENT = 64;

function isOnnxSdPipeline(root: string): boolean {
  const json = readJson(path.join(root, 'model_index.json'), 'model_index.json');
  return isObj(json) && typeof json._class_name === 'string' && json._class_name.startsWith('OnnxStableDiffusion');
}

/** The channels of the sample input: the graph's declared dim, else the first Conv reading it (diffusers' conv_in). */
export function sampleChannels(model: Model, sample: string, external: readonly ExternalRef[] = []): number | undefined {
  const declared = model.graph.inputs.find((i) => i.name === sample)?.shape?.[1];
  if (typeof declared === 'number') return declared;
  const conv = model.graph.nodes.find((n) => n.opType === 'Conv' && n.inputs[0] === sample);
  if (!conv) return undefined;
  const dims = model.graph.initializers.get(conv.inputs[1])?.dims ?? external.find((r) => r.tensor === conv.inputs[1])?.dims;
  return dims?.[1];
}

/**
 * The config of a pipeline folder's UNet as JSON for configFromJson: diffusion from the scheduler,
 * image from unet/config.json or the graph; `given` (the user's config) wins key by key.
 * `model` is the graph, external data not read (`external` gives those weights' dims).
 */
export function diffusersFolderConfig(root: string, model: Model, external: readonly ExternalRef[], given?: unknown, givenSource = 'config'): Obj {
  const schedFile = path.join(root, 'scheduler', 'scheduler_config.json');
  if (!fs.existsSync(schedFile)) throw new FileFormatError(root, 'has no scheduler/scheduler_config.json (the schedule of the UNet)');
  const sched = readJson(schedFile, 'scheduler config');
  const cls = schedulerClassName(sched);
  if (cls !== undefined && !SCHEDULER_CLASSES.includes(cls)) {
    throw new ConfigError(`${schedFile}: _class_name`, `${cls} is not a scheduler whose config this project maps (expected one of ${SCHEDULER_CLASSES.join(', ')})`);
  }
  const diffusion = diffusionConfigFromScheduler(sched, schedFile);
  const unetFile = path.join(root, 'unet', 'config.json');
  const unet = fs.existsSync(unetFile) ? unetFolderConfig(readJson(unetFile, 'UNet config'), unetFile) : {};
  const user = given === undefined ? {} : given;
  if (!isObj(user)) throw new ConfigError(givenSource, 'expected a JSON object');
  const roles = isObj(user.roles) ? user.roles : {};
  const inputNames = model.graph.inputs.map((i) => i.name);
  // a role naming no input is reported by resolveIo, with the graph's inputs
  const sample = [roles.sample, ...ROLE_NAMES.sample].find((n) => typeof n === 'string' && inputNames.includes(n)) as string | undefined ?? 'sample';
  const declared = model.graph.inputs.find((i) => i.name === sample)?.shape;
  const userImage = isObj(user.image) ? user.image : {};
  const channels = userImage.channels ?? unet.inChannels ?? sampleChannels(model, sample, external);
  const size = userImage.size ?? unet.sampleSize ?? (typeof declared?.[2] === 'number' && declared[2] === declared[3] ? declared[2] : undefined)
    ?? (isOnnxSdPipeline(root) ? SD_DEFAULT_LATENT : undefined);
  const shown = declared ? `[${declared.join(',')}]` : 'undeclared';
  if (channels === undefined) throw new DiffusionError(`${root}: the UNet's input channels are not known (no unet/config.json; the graph's '${sample}' is ${shown}); give image.channels in a config (--config)`);
  if (size === undefined) {
    throw new DiffusionError(`${root}: the latent size is not known (no unet/config.json; the graph's '${sample}' is ${shown}); give image.size in a config (--config), e.g. {"image": {"size": 64}}`);
  }
  return {
    ...user,
    image: { channels, size },
    diffusion: isObj(user.diffusion) ? { ...diffusion, ...user.diffusion } : diffusion,
  };
}
