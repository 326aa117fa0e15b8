export * from './tensor';
export * from './ir';
export { decodeModel, encodeModel, checkGraph } from './proto';
export { inferGraph, inferNode } from './infer';
export type { Known } from './infer';
export { Builder } from './builder';
export type { Value, Init, AttrInput, ConvOptions, ConvTransposeOptions, PoolOptions } from './builder';
