/** Multi-model pipelines: cascades of super-resolution stages and ensembles of timestep experts (isomorphic part). */
export * from './cascade';
export * from './experts';
export * from '../../core/cascade-files';
