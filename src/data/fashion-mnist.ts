/**
 * Fashion-MNIST (Xiao, Rasul & Vollgraf 2017). `fashion-mnist` opens the 10,000-image test split
 * shipped in models/fashion-mnist/ (the default data set: no download needed);
 * `fashion-mnist:full` opens the 60,000-image training split installed by the Debian package
 * dataset-fashion-mnist under /usr/share/datasets/fashion-mnist.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DiffusionError } from '../core/errors';
import type { Dataset, DatasetRequest } from './dataset';
import { openIdxFiles } from './idx';
import { packageRoot } from '../core/node/package-files';

export { packageRoot };

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];
export const SYSTEM_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/**
 * The data a `train` run uses when none is named: the 60,000-image training split where Debian's
 * dataset-fashion-mnist is installed (what the README's default run was measured on), else the
 * embedded 10,000-image test split.
 */
export function defaultTrainData(): 'fashion-mnist:full' | 'fashion-mnist' {
  const dir = SYSTEM_FASHION_MNIST_DIR;
  return existsSync(join(dir, 'train-images-idx3-ubyte.gz')) && existsSync(join(dir, 'train-labels-idx1-ubyte.gz')) ? 'fashion-mnist:full' : 'fashion-mnist';
}

/** The folder holding the embedded test split. */
export function embeddedFashionMnistDir(): string {
  return join(packageRoot(), 'models', 'fashion-mnist');
}

export async function openFashionMnist(variant: string, want: DatasetRequest): Promise<Dataset> {
  if (variant === '' || variant === 'test') {
    const dir = embeddedFashionMnistDir();
    const images = join(dir, 't10k-images-idx3-ubyte.gz');
    if (!existsSync(images)) throw new DiffusionError(`${images}: the embedded Fashion-MNIST test split is missing`);
    return openIdxFiles(images, join(dir, 't10k-labels-idx1-ubyte.gz'), want, {
      name: 'fashion-mnist',
      classNames: FASHION_MNIST_CLASSES,
    });
  }
  if (variant === 'full' || variant === 'train') {
    const dir = SYSTEM_FASHION_MNIST_DIR;
    const images = join(dir, 'train-images-idx3-ubyte.gz');
    const labels = join(dir, 'train-labels-idx1-ubyte.gz');
    if (!existsSync(images) || !existsSync(labels)) {
      throw new DiffusionError(
        `${images}: Fashion-MNIST training split not found; install the Debian package dataset-fashion-mnist`,
      );
    }
    return openIdxFiles(images, labels, want, { name: 'fashion-mnist:full', classNames: FASHION_MNIST_CLASSES });
  }
  throw new DiffusionError(`fashion-mnist:${variant}: unknown variant (use fashion-mnist or fashion-mnist:full)`);
}
