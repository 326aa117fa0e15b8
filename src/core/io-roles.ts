/**
 * The role of each input and output of a denoiser graph, found by the names this project and the
 * ecosystem use: the noisy input (`x`, diffusers' `sample`), the timestep (`t`, `timestep`), the
 * prediction (`out`, `out_sample`, else the only output); every other input is conditioning
 * (`encoder_hidden_states`, `class`, ...). An explicit mapping (from a config) wins over names.
 * Pure; no Node imports.
 */
import { DiffusionError } from './errors';

export interface IoRoles {
  sample: string;
  timestep: string;
  prediction: string;
  conditioning: string[];
}

/** The names each role goes by, ours first (diffusers' UNet2DModel / UNet2DConditionModel exports, optimum's). */
export const ROLE_NAMES = {
  sample: ['x', 'sample', 'noisy_sample', 'latent_model_input'],
  timestep: ['t', 'timestep', 'timesteps'],
  prediction: ['out', 'out_sample', 'noise_pred'],
} as const;

/** What findIoRoles reads of a graph: its inputs and outputs by name (initializers listed as inputs are skipped). */
export interface GraphIo {
  inputs: readonly { name: string }[];
  outputs: readonly { name: string }[];
  initializers?: { has(name: string): boolean };
}

/**
 * Finds the roles of `graph`'s inputs and outputs; `given` names any of them explicitly. Throws
 * naming the graph's inputs (or outputs) when a role cannot be found.
 */
export function findIoRoles(graph: GraphIo, given: Partial<Omit<IoRoles, 'conditioning'>> = {}, source = 'model'): IoRoles {
  const inputs = graph.inputs.map((i) => i.name).filter((n) => !graph.initializers?.has(n));
  const outputs = graph.outputs.map((o) => o.name);
  const pick = (role: keyof typeof ROLE_NAMES, names: string[]): string => {
    const explicit = given[role];
    if (explicit !== undefined) {
      if (!names.includes(explicit)) throw new DiffusionError(`${source}: the ${role} is mapped to '${explicit}', which the graph does not have (${names.join(', ')})`);
      return explicit;
    }
    const found = ROLE_NAMES[role].find((n) => names.includes(n));
    if (found !== undefined) return found;
    if (role === 'prediction' && names.length === 1) return names[0];
    const what = role === 'prediction' ? 'outputs' : 'inputs';
    throw new DiffusionError(`${source}: no ${role} ${role === 'prediction' ? 'output' : 'input'} (named ${ROLE_NAMES[role].join(' or ')}); the ${what} are ${names.join(', ') || 'none'}`);
  };
  const sample = pick('sample', inputs);
  const timestep = pick('timestep', inputs);
  const prediction = pick('prediction', outputs);
  return { sample, timestep, prediction, conditioning: inputs.filter((n) => n !== sample && n !== timestep) };
}
