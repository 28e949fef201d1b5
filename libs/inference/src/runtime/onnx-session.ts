import * as ort from 'onnxruntime-node';
import { OnnxGraphBuilder } from '../onnx/onnx-graph-builder';

export type OnnxDevice = 'cpu' | 'cuda';

export interface OnnxSessionOptions {
  /** @defaultValue 'cpu' */
  device?: OnnxDevice;
  /** Intra-op threads; onnxruntime picks one per physical core when unset. */
  threads?: number;
  /** CUDA device ordinal. @defaultValue 0 */
  deviceId?: number;
  /**
   * onnxruntime's CPU arena keeps every buffer it ever grew to. Off for graphs whose few large
   * intermediates scale with the batch (distances, maps), so a process's memory does not keep the
   * high-water mark of its largest batch. @defaultValue true
   */
  memoryArena?: boolean;
}

/**
 * Opens an onnxruntime session on the CPU or on CUDA (CPU only for the nodes CUDA lacks).
 * A CUDA session that cannot be created is an error, never a silent CPU fallback: a caller who asked
 * for the GPU would otherwise measure and scale against the wrong device.
 */
export async function createOnnxSession(model: Uint8Array | string, options: OnnxSessionOptions = {}): Promise<ort.InferenceSession> {
  const sessionOptions = sessionOptionsFor(options);
  try {
    // The overloads take a path or a buffer; both branches pass the same options.
    return typeof model === 'string' ? await ort.InferenceSession.create(model, sessionOptions) : await ort.InferenceSession.create(model, sessionOptions);
  } catch (e) {
    throw describeSessionError(options.device ?? 'cpu', e);
  }
}

/** onnxruntime's own error, or a plain statement that CUDA is unavailable when that is what failed. */
export function describeSessionError(device: OnnxDevice, e: unknown): Error {
  const message = e instanceof Error ? e.message : String(e);
  if (device === 'cuda' && /cuda/i.test(message)) {
    return new Error(`CUDA is unavailable: onnxruntime could not create its CUDA execution provider (are the CUDA provider libraries installed?): ${message}`);
  }
  return e instanceof Error ? e : new Error(message);
}

/** onnxruntime session options for a device and thread count (shared with the worker-thread sessions). */
export function sessionOptionsFor(options: OnnxSessionOptions): ort.InferenceSession.SessionOptions {
  const { device = 'cpu', threads, deviceId = 0, memoryArena = true } = options;
  return {
    executionProviders: device === 'cuda' ? [{ name: 'cuda', deviceId }, 'cpu'] : ['cpu'],
    graphOptimizationLevel: 'all',
    ...(threads !== undefined ? { intraOpNumThreads: threads } : {}),
    // The memory pattern pre-plans one block per input shape on top of the arena: for the resnet18
    // extractor at batch 8 it costs 135 MB more for no measured speed-up.
    enableMemPattern: false,
    ...(memoryArena ? {} : { enableCpuMemArena: false }),
  };
}

let probed: Promise<OnnxDevice[]> | undefined;

/** Devices a session can really be created on here ('cpu' always; 'cuda' if a probe session succeeds). */
export function availableDevices(): Promise<OnnxDevice[]> {
  probed ??= (async () => {
    const devices: OnnxDevice[] = ['cpu'];
    if (ort.listSupportedBackends().some((b) => b.name === 'cuda')) {
      const g = new OnnxGraphBuilder('cuda_probe');
      g.input('x', 'float', [1]);
      g.node('Identity', ['x'], {}, ['y']);
      g.output('y', 'float', [1]);
      const ok = await createOnnxSession(g.toBytes(), { device: 'cuda' }).then(
        (s) => s.release().then(() => true),
        () => false,
      );
      if (ok) devices.push('cuda');
    }
    return devices;
  })();
  return probed;
}
