import { onnx } from 'onnx-proto';

export type OnnxElementType = 'float' | 'double' | 'int64';
export type OnnxDim = number | string;
export type OnnxAttributeValue = number | number[] | string | Float32Array | { floats: number[] } | { tensor: onnx.ITensorProto };

const ELEMENT_TYPES: Record<OnnxElementType, onnx.TensorProto.DataType> = {
  float: onnx.TensorProto.DataType.FLOAT,
  double: onnx.TensorProto.DataType.DOUBLE,
  int64: onnx.TensorProto.DataType.INT64,
};

/** Default opset: 17 has every operator the project's graphs use (Resize, Gather, ReduceSum with axes input from 13). */
export const DEFAULT_OPSET = 17;

function valueInfo(name: string, elemType: OnnxElementType, dims: OnnxDim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEMENT_TYPES[elemType],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Builds a tensor proto; float and double data go in raw little-endian bytes (compact, fast to encode). */
export function tensorProto(name: string, data: Float32Array | Float64Array | BigInt64Array, dims: number[]): onnx.ITensorProto {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new Error(`tensor ${name}: ${data.length} values for dims [${dims.join(', ')}] (expected ${expected})`);
  }
  const dataType =
    data instanceof Float32Array
      ? onnx.TensorProto.DataType.FLOAT
      : data instanceof Float64Array
        ? onnx.TensorProto.DataType.DOUBLE
        : onnx.TensorProto.DataType.INT64;
  return { name, dataType, dims, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function attribute(name: string, value: OnnxAttributeValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    // Integers are INT attributes; anything with a fraction must be a float. Use { floats } for float lists.
    return Number.isInteger(value) ? { name, type: T.INT, i: value } : { name, type: T.FLOAT, f: value };
  }
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if (value instanceof Float32Array) return { name, type: T.FLOATS, floats: Array.from(value) };
  if ('floats' in value) return { name, type: T.FLOATS, floats: value.floats };
  return { name, type: T.TENSOR, t: value.tensor };
}

/**
 * A small imperative builder over onnx-proto: inputs, initializers and nodes are appended in order,
 * and `toBytes()` encodes the ModelProto that onnxruntime loads.
 */
export class OnnxGraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(readonly graphName: string) {}

  /** A fresh, unused value name with the given prefix. */
  uniqueName(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    this.names.add(name);
    return name;
  }

  input(name: string, elemType: OnnxElementType, dims: OnnxDim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: OnnxElementType, dims: OnnxDim[]): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  initializer(name: string, data: Float32Array | Float64Array | BigInt64Array, dims: number[]): string {
    this.claim(name);
    this.initializers.push(tensorProto(name, data, dims));
    return name;
  }

  /** An int64 constant initializer, e.g. for Reshape shapes, axes and Gather indices. */
  int64s(name: string, values: number[], dims: number[] = [values.length]): string {
    return this.initializer(name, BigInt64Array.from(values.map((v) => BigInt(v))), dims);
  }

  /** Appends a node; `outputs` default to one fresh name. Returns the first output's name. */
  node(opType: string, inputs: string[], attrs: Record<string, OnnxAttributeValue> = {}, outputs?: string[]): string {
    const outs = outputs ?? [this.uniqueName(opType.toLowerCase())];
    for (const o of outputs ?? []) this.claim(o);
    this.nodes.push({
      opType,
      name: this.uniqueName(`node_${opType}`),
      input: inputs,
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs[0];
  }

  toModelProto(opset = DEFAULT_OPSET): onnx.IModelProto {
    return {
      irVersion: 8,
      producerName: 'padim-fleet',
      opsetImport: [{ domain: '', version: opset }],
      graph: {
        name: this.graphName,
        node: this.nodes,
        input: this.inputs,
        output: this.outputs,
        initializer: this.initializers,
      },
    };
  }

  toBytes(opset = DEFAULT_OPSET): Uint8Array {
    return onnx.ModelProto.encode(onnx.ModelProto.create(this.toModelProto(opset))).finish();
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`ONNX graph ${this.graphName}: value name "${name}" is already used`);
    this.names.add(name);
  }
}
