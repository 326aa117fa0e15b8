/** Dead-node elimination lives with the IR (src/onnx/dead-nodes.ts): constant folding uses it too. */
export { eliminateDeadNodes } from '../../onnx/dead-nodes';
