/** Data sets (Fashion-MNIST, IDX, CIFAR-10, image folders, pairs, synthetic) and the batch loader. */
export type { Dataset, DatasetRequest } from './dataset';
export { BatchLoader, type Batch, type LoaderOptions, type LoaderState } from './loader';
export { MemoryDataset, type MemoryDatasetInit } from './memory';
export { DATASET_KINDS, openDataset } from './open';
export { FASHION_MNIST_CLASSES, packageRoot } from './fashion-mnist';
export { CIFAR10_CLASSES } from './cifar10';
export { SYNTHETIC_CLASSES } from './synthetic';
