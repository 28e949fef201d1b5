import { Worker } from 'node:worker_threads';
import { OnnxSessionOptions, describeSessionError, sessionOptionsFor } from './onnx-session';

/** A float tensor crossing the thread boundary. */
export interface TensorData {
  data: Float32Array | Float64Array;
  dims: number[];
}

// The worker is plain JavaScript evaluated from a string, so it runs the same from compiled output and
// from tests that load TypeScript sources. It owns one onnxruntime session and its constant inputs.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
const toTensor = (t) => new ort.Tensor(t.data instanceof Float64Array ? 'float64' : 'float32', t.data, t.dims);
(async () => {
  let session;
  try {
    session = await ort.InferenceSession.create(workerData.model, workerData.options);
  } catch (e) {
    parentPort.postMessage({ kind: 'init-error', message: e && e.message ? e.message : String(e) });
    return;
  }
  const constants = {};
  for (const [name, t] of Object.entries(workerData.constants)) constants[name] = toTensor(t);
  parentPort.postMessage({ kind: 'ready' });
  parentPort.on('message', async (msg) => {
    if (msg.kind === 'release') {
      await session.release();
      parentPort.postMessage({ kind: 'released' });
      return;
    }
    try {
      const feeds = { ...constants };
      for (const [name, t] of Object.entries(msg.feeds)) feeds[name] = toTensor(t);
      const out = await session.run(feeds);
      const outputs = {};
      const transfer = [...msg.returned];
      for (const [name, t] of Object.entries(out)) {
        outputs[name] = { data: t.data, dims: t.dims };
        transfer.push(t.data.buffer);
      }
      try {
        parentPort.postMessage({ kind: 'result', id: msg.id, outputs, returned: msg.returned }, transfer);
      } catch {
        parentPort.postMessage({ kind: 'result', id: msg.id, outputs: Object.fromEntries(Object.entries(outputs).map(([k, t]) => [k, { data: t.data.slice(), dims: t.dims }])), returned: msg.returned }, msg.returned);
      }
    } catch (e) {
      parentPort.postMessage({ kind: 'error', id: msg.id, message: e && e.message ? e.message : String(e), returned: msg.returned }, msg.returned);
    }
  });
})();
`;

/** An input: one array, or float32 segments that make it up in order (copied once, straight into the buffer sent). */
export interface TensorInput {
  data: Float32Array | Float64Array | Float32Array[];
  dims: number[];
}

type Pending = { resolve: (v: Record<string, TensorData>) => void; reject: (e: Error) => void };

type WorkerReply = { kind: string; id: number; outputs?: Record<string, TensorData>; message?: string; returned?: ArrayBuffer[] };

/** Input buffers kept for reuse per session; more than this in flight at once are allocated afresh. */
const MAX_POOLED_INPUTS = 8;

/**
 * An onnxruntime session on its own thread. onnxruntime-node runs inference synchronously on the
 * calling thread, so a session on the main thread stops everything else (accumulation, blur, PNG,
 * lock renewal) for the whole backbone pass; here the main thread keeps working meanwhile.
 * `constants` are inputs given once (e.g. a model's means and factors) and added to every run; their
 * buffers are transferred to the worker, so pass arrays that own their whole buffer and are not reused.
 */
export class OnnxWorkerSession {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private released = false;
  /**
   * Buffers that carried inputs to the worker and came back with its reply. Inputs are copied into
   * them and moved across, so a run allocates nothing for its inputs: copies made anew each run would
   * be garbage in the worker's isolate, which collects rarely, and its memory would grow run by run.
   */
  private readonly inputPool: ArrayBuffer[] = [];

  private constructor(private readonly worker: Worker) {
    worker.on('message', (msg: WorkerReply) => {
      for (const buffer of msg.returned ?? []) if (this.inputPool.length < MAX_POOLED_INPUTS) this.inputPool.push(buffer);
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.kind === 'result') p.resolve(msg.outputs!);
      else p.reject(new Error(`onnxruntime: ${msg.message}`));
    });
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', (code) => {
      if (!this.released) this.failAll(new Error(`onnxruntime worker exited with code ${code}`));
    });
  }

  static async create(model: Uint8Array, options: OnnxSessionOptions = {}, constants: Record<string, TensorData> = {}): Promise<OnnxWorkerSession> {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ortPath: require.resolve('onnxruntime-node'), model, options: sessionOptionsFor(options), constants },
      // Constants can be gigabytes (d=550 factors): move them instead of copying. The caller's arrays are detached.
      transferList: Object.values(constants).map((t) => t.data.buffer as ArrayBuffer),
    });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (msg: { kind: string; message?: string }) => {
        worker.off('error', onError);
        if (msg.kind === 'ready') resolve();
        else {
          void worker.terminate();
          reject(describeSessionError(options.device ?? 'cpu', new Error(msg.message)));
        }
      };
      const onError = (e: Error) => reject(e);
      worker.once('message', onMessage);
      worker.once('error', onError);
    });
    return new OnnxWorkerSession(worker);
  }

  /** Runs the graph; inputs are copied to the worker, outputs are moved back without a copy. */
  run(feeds: Record<string, TensorInput>): Promise<Record<string, TensorData>> {
    if (this.released) return Promise.reject(new Error('onnxruntime worker session was released'));
    const id = this.nextId++;
    const moved: Record<string, TensorData> = {};
    const buffers: ArrayBuffer[] = [];
    for (const [name, t] of Object.entries(feeds)) {
      const parts = Array.isArray(t.data) ? t.data : [t.data];
      let length = 0;
      for (const part of parts) length += part.length;
      const buffer = this.takeBuffer(length * parts[0].BYTES_PER_ELEMENT);
      const copy = parts[0] instanceof Float64Array ? new Float64Array(buffer, 0, length) : new Float32Array(buffer, 0, length);
      let offset = 0;
      for (const part of parts) {
        copy.set(part, offset);
        offset += part.length;
      }
      moved[name] = { data: copy, dims: t.dims };
      buffers.push(buffer);
    }
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ kind: 'run', id, feeds: moved, returned: buffers }, buffers);
    });
  }

  /** A pooled buffer of at least `bytes` (the smallest that fits), or a new one. */
  private takeBuffer(bytes: number): ArrayBuffer {
    let best = -1;
    for (let i = 0; i < this.inputPool.length; i++) {
      const size = this.inputPool[i].byteLength;
      if (size >= bytes && (best < 0 || size < this.inputPool[best].byteLength)) best = i;
    }
    if (best < 0) return new ArrayBuffer(bytes);
    return this.inputPool.splice(best, 1)[0];
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.worker.terminate();
    this.failAll(new Error('onnxruntime worker session was released'));
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}
