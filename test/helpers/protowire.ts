/**
 * A minimal protobuf wire writer, independent of protobufjs, to produce TensorProto bytes in the
 * non-raw forms other tools write (float_data, int64_data, int32_data, double_data).
 */
export class Wire {
  private bytes: number[] = [];

  private varint(v: bigint): void {
    let x = BigInt.asUintN(64, v); // negative int32/int64 are written as 10-byte two's complement
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x !== 0n) b |= 0x80;
      this.bytes.push(b);
    } while (x !== 0n);
  }

  private key(field: number, wire: number): void {
    this.varint(BigInt((field << 3) | wire));
  }

  int(field: number, v: number | bigint): this {
    this.key(field, 0);
    this.varint(BigInt(v));
    return this;
  }

  bytesField(field: number, b: Uint8Array): this {
    this.key(field, 2);
    this.varint(BigInt(b.length));
    this.bytes.push(...b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytesField(field, new TextEncoder().encode(s));
  }

  /** A packed repeated varint field (int32/int64). */
  packedInts(field: number, vs: (number | bigint)[]): this {
    const inner = new Wire();
    for (const v of vs) inner.varint(BigInt(v));
    return this.bytesField(field, inner.finish());
  }

  /** Unpacked repeated varints, as some old writers emit. */
  repeatedInts(field: number, vs: (number | bigint)[]): this {
    for (const v of vs) this.int(field, v);
    return this;
  }

  packedFloats(field: number, vs: number[]): this {
    return this.bytesField(field, new Uint8Array(Float32Array.from(vs).buffer));
  }

  packedDoubles(field: number, vs: number[]): this {
    return this.bytesField(field, new Uint8Array(Float64Array.from(vs).buffer));
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

/** TensorProto field numbers (onnx.proto). */
export const TP = { dims: 1, dataType: 2, floatData: 4, int32Data: 5, int64Data: 7, name: 8, rawData: 9, doubleData: 10 } as const;
