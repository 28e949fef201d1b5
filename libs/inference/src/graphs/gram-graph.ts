import * as ort from 'onnxruntime-node';
import type { BatchedGram } from '@padim-fleet/padim-core';
import { OnnxGraphBuilder } from '../onnx/onnx-graph-builder';
import { createOnnxSession } from '../runtime/onnx-session';

/**
 * Batched Gram product: input `centred` [P, d, B] float32, output `gram` [P, d, d] = X·Xᵀ per position
 * (one MatMul; onnxruntime folds the Transpose into it). P and B are dynamic.
 */
export function buildGramGraph(d: number): Uint8Array {
  const g = new OnnxGraphBuilder('gram');
  const x = g.input('centred', 'float', ['P', d, 'B']);
  g.node('MatMul', [x, g.node('Transpose', [x], { perm: [0, 2, 1] })], {}, ['gram']);
  g.output('gram', 'float', ['P', d, d]);
  return g.toBytes();
}

/** A BatchedGram over an onnxruntime session, and the release of that session. */
export interface GramSession {
  gram: BatchedGram;
  release(): Promise<void>;
}

/**
 * Opens the Gram graph for dimension d. One intra-op thread by default: the accumulation then takes
 * one core (onnxruntime-node runs the graph on the calling thread), as the co-moment kernel did, and
 * leaves the others to the backbone sessions; a second thread measured slower on 2 shared cores.
 */
export async function createGramSession(d: number, threads = 1): Promise<GramSession> {
  const session = await createOnnxSession(buildGramGraph(d), { threads });
  return {
    gram: async (centred, positions, dd, B, gram) => {
      if (dd !== d) throw new RangeError(`Gram session is for d=${d}, got d=${dd}`);
      // Written into the caller's buffer: no output to allocate and copy per block.
      await session.run({ centred: new ort.Tensor('float32', centred, [positions, d, B]) }, { gram: new ort.Tensor('float32', gram, [positions, d, d]) });
    },
    release: () => session.release(),
  };
}
