/**
 * @deprecated The old name of setup-from-model.ts, kept only while src/web/trainer.ts imports it;
 * delete this file once that import names './setup-from-model'.
 * @internal
 */
export { modelWithWeights, setupFromModel, type FrozenByReference, type Setup, type SetupFromModelOptions } from './setup-from-model';
