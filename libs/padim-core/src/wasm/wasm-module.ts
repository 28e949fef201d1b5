/** The parts of the global WebAssembly object the kernels use (the library compiles without DOM or Node types). */
export interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

export function wasmApi(): WasmApi | undefined {
  return (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
}

const modules = new Map<string, object | null>();

/**
 * The compiled module of a kernel's embedded bytes (base64), compiled once per process; null where
 * WebAssembly or its SIMD is unavailable (e.g. --jitless, a CSP without wasm-unsafe-eval), so the caller
 * takes its scalar path. Compilation is synchronous: the kernels are a few KB, under browsers'
 * main-thread limit.
 */
export function compileWasmModule(base64: string): object | null {
  const cached = modules.get(base64);
  if (cached !== undefined) return cached;
  let module: object | null = null;
  const api = wasmApi();
  if (api) {
    try {
      module = new api.Module(decodeBase64(base64));
    } catch {
      // No SIMD support: stay on the scalar path.
    }
  }
  modules.set(base64, module);
  return module;
}

/** An instance of a compiled module (no imports), or null where instantiation fails. */
export function instantiateWasm<T>(module: object): T | null {
  try {
    return new (wasmApi()!.Instance)(module, {}).exports as unknown as T;
  } catch {
    return null;
  }
}

/** Holds a kernel's shared instance once made (null: wasm is unavailable). */
export interface SharedInstance<T> {
  instance?: T | null;
}

/**
 * The kernel instance for a call needing `bytes` of memory: the shared one, or, past `keepBytes`, one
 * of its own, so the shared memory never stays grown to one large image's size (a wasm memory cannot
 * shrink). Null where wasm is unavailable.
 */
export function instanceFor<T>(shared: SharedInstance<T>, base64: string, bytes: number, keepBytes: number): T | null {
  if (shared.instance !== undefined && (bytes <= keepBytes || shared.instance === null)) return shared.instance;
  const module = compileWasmModule(base64);
  const fresh = module && instantiateWasm<T>(module);
  if (bytes > keepBytes && fresh) return fresh;
  shared.instance = fresh;
  return fresh;
}

/** Bytes of a wasm memory page. */
export const WASM_PAGE_BYTES = 65536;

/** A kernel's exported memory, as far as growing it goes. */
export interface GrowableMemory {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
}

/** Grows `wasm`'s memory to hold at least `bytes`: false where it cannot (the caller takes its scalar path). */
export function growMemoryTo(wasm: GrowableMemory, bytes: number): boolean {
  try {
    const have = wasm.memory.buffer.byteLength;
    if (have < bytes) wasm.memory.grow(Math.ceil((bytes - have) / WASM_PAGE_BYTES));
    return true;
  } catch {
    return false;
  }
}

/** Base64 to bytes without atob or Buffer, so the library runs anywhere. */
export function decodeBase64(s: string): Uint8Array {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const clean = s.replace(/=+$/, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let o = 0;
  for (let i = 0; i < clean.length; i++) {
    value = ((value << 6) | alphabet.indexOf(clean[i])) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (value >> bits) & 0xff;
    }
  }
  return out;
}
