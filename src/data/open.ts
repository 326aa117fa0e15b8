/**
 * Data set spec strings -> data sets, converted to the requested channels and size:
 *   fashion-mnist | fashion-mnist:full | synthetic[:N] | idx:DIR | idx:IMAGES[,LABELS]
 *   cifar10:DIR[:train|test|all] | folder:DIR | paired:DIR | manifest:DIR (images + per-image .npy tensors)
 */
import { DiffusionError } from '../core/errors';
import { openCifar10, type CifarSplit } from './cifar10';
import type { Dataset, DatasetRequest } from './dataset';
import { openFashionMnist } from './fashion-mnist';
import { openFolder } from './folder';
import { openIdx } from './idx';
import { openManifest } from './manifest';
import { openPaired } from './paired';
import { openSynthetic, SYNTHETIC_DEFAULT_N } from './synthetic';

export const DATASET_KINDS = ['fashion-mnist', 'synthetic', 'idx', 'cifar10', 'folder', 'paired', 'manifest'];

function needArg(kind: string, arg: string): string {
  if (arg === '') throw new DiffusionError(`data set '${kind}' needs a path: ${kind}:DIR`);
  return arg;
}

/** Opens the data set named by `spec`; unknown kinds get an error listing the known ones. */
export async function openDataset(spec: string, want: DatasetRequest): Promise<Dataset> {
  if (!Number.isInteger(want.size) || want.size < 1) throw new DiffusionError(`data set ${spec}: bad image size ${want.size}`);
  if (!Number.isInteger(want.channels) || want.channels < 1) {
    throw new DiffusionError(`data set ${spec}: bad channel count ${want.channels}`);
  }
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const arg = colon < 0 ? '' : spec.slice(colon + 1);
  switch (kind) {
    case 'fashion-mnist':
      return openFashionMnist(arg, want);
    case 'synthetic': {
      if (arg !== '' && !/^\d+$/.test(arg)) throw new DiffusionError(`${spec}: the image count must be a positive integer, got '${arg}'`);
      const n = arg === '' ? SYNTHETIC_DEFAULT_N : Number(arg);
      // Held in memory as float32: past 2^31 bytes no typed array holds it (and few machines would).
      const per = want.channels * want.size * want.size * 4;
      if (n * per > 2 ** 31) throw new DiffusionError(`${spec}: ${n} images of ${want.channels}x${want.size}x${want.size} need ${(n * per / 2 ** 30).toFixed(1)} GiB in memory; at most ${Math.floor(2 ** 31 / per)} fit`);
      return openSynthetic(n, want);
    }
    case 'idx':
      return openIdx(arg, want);
    case 'cifar10': {
      const m = /^(.*):(train|test|all)$/.exec(arg);
      const dir = needArg(kind, m ? m[1] : arg);
      return openCifar10(dir, (m ? m[2] : 'train') as CifarSplit, want);
    }
    case 'folder':
      return openFolder(needArg(kind, arg), want);
    case 'paired':
      return openPaired(needArg(kind, arg), want);
    case 'manifest':
      return openManifest(needArg(kind, arg), want);
    default:
      throw new DiffusionError(`unknown data set kind '${kind}' in '${spec}' (known: ${DATASET_KINDS.join(', ')})`);
  }
}
