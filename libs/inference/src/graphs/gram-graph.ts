import * as ort from 'onnxruntime-node';
import { gramBandLayout, type BatchedGram } from '@padim-fleet/padim-core';
import { OnnxGraphBuilder } from '../onnx/onnx-graph-builder';
import { createOnnxSession } from '../runtime/onnx-session';

/**
 * Batched Gram product by row bands (gramBands): input `centred` [P, d, B] float32, output `gram{k}`
 * [P, rows, d − first] = rows [first, first + rows) of X times Xᵀ's columns from `first` on, per
 * position: one MatMul per band (onnxruntime folds the Transpose into it). P and B are dynamic.
 */
export function buildGramGraph(d: number): Uint8Array {
  const g = new OnnxGraphBuilder('gram');
  const x = g.input('centred', 'float', ['P', d, 'B']);
  const rowsOf = (name: string, from: number, to: number) =>
    from === 0 && to === d ? x : g.node('Slice', [x, g.int64s(`${name}_starts`, [from]), g.int64s(`${name}_ends`, [to]), g.int64s(`${name}_axes`, [1])]);
  // Bands as the session's fetches and the merge lay them out (the block size does not matter here).
  gramBandLayout(d, 1).forEach(({ first, rows, width }, k) => {
    const bandRows = rowsOf(`band${k}_rows`, first, first + rows);
    const columns = rowsOf(`band${k}_columns`, first, d);
    g.node('MatMul', [bandRows, g.node('Transpose', [columns], { perm: [0, 2, 1] })], {}, [`gram${k}`]);
    g.output(`gram${k}`, 'float', ['P', rows, width]);
  });
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
      // Written into the caller's buffer, band after band: no output to allocate and copy per block.
      const fetches: Record<string, ort.Tensor> = {};
      gramBandLayout(d, positions).forEach(({ rows, width, offset, floats }, k) => {
        fetches[`gram${k}`] = new ort.Tensor('float32', gram.subarray(offset, offset + floats), [positions, rows, width]);
      });
      await session.run({ centred: new ort.Tensor('float32', centred, [positions, d, B]) }, fetches);
    },
    release: () => session.release(),
  };
}
