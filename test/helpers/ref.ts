/**
 * Independent reference implementations of ONNX ops: naive loops over plain number arrays in
 * double precision, written from the ONNX operator specification (opset 17), sharing no code with
 * src/. Tests compare ONNX Runtime's results against these.
 */

/** A dense row-major array. */
export interface Arr {
  shape: number[];
  data: number[];
}

export const arr = (shape: number[], data: ArrayLike<number>): Arr => ({ shape: [...shape], data: Array.from(data) });
export const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

export function stridesOf(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Multi-index of flat index `i` in `shape`. */
export function unravel(i: number, shape: number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    idx[k] = i % shape[k];
    i = Math.floor(i / shape[k]);
  }
  return idx;
}

export function ravel(idx: number[], shape: number[]): number {
  let f = 0;
  for (let k = 0; k < shape.length; k++) f = f * shape[k] + idx[k];
  return f;
}

const norm = (a: number, r: number) => (a < 0 ? a + r : a);

// ------------------------------------------------------------ elementwise

export function broadcastShape(...shapes: number[][]): number[] {
  const r = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    let d = 1;
    for (const s of shapes) {
      const e = s[s.length - r + i] ?? 1;
      if (e !== 1) {
        if (d !== 1 && d !== e) throw new Error(`cannot broadcast [${shapes.join('] [')}]`);
        d = e;
      }
    }
    out.push(d);
  }
  return out;
}

/** Element of `a` at output multi-index `idx` under numpy broadcasting. */
function at(a: Arr, idx: number[]): number {
  const off = idx.length - a.shape.length;
  let f = 0;
  for (let k = 0; k < a.shape.length; k++) f = f * a.shape[k] + (a.shape[k] === 1 ? 0 : idx[off + k]);
  return a.data[f];
}

export function map(xs: Arr[], f: (...v: number[]) => number): Arr {
  const shape = broadcastShape(...xs.map((x) => x.shape));
  const n = size(shape);
  const data = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, shape);
    data[i] = f(...xs.map((x) => at(x, idx)));
  }
  return { shape, data };
}

export const unary = (x: Arr, f: (v: number) => number): Arr => ({ shape: [...x.shape], data: x.data.map(f) });

/** erf by its Maclaurin series (converges for all x; exact to ~1e-13 for |x| <= 3 in doubles). */
export function erf(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const t = term / (2 * n + 1);
    sum += t;
    if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

export const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

// ------------------------------------------------------------ linear algebra

export function gemm(a: Arr, b: Arr, c: Arr | null, o: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number }): Arr {
  const A = o.transA ? transpose(a, [1, 0]) : a;
  const B = o.transB ? transpose(b, [1, 0]) : b;
  const [m, k] = A.shape;
  const n = B.shape[1];
  const data = new Array<number>(m * n).fill(0);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += A.data[i * k + p] * B.data[p * n + j];
      data[i * n + j] = (o.alpha ?? 1) * s;
    }
  }
  const out = { shape: [m, n], data };
  if (!c) return out;
  return map([out, c], (y, cv) => y + (o.beta ?? 1) * cv);
}

/** numpy matmul: 1-D operands promoted and squeezed, batch dims broadcast. */
export function matmul(a: Arr, b: Arr): Arr {
  const as = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
  const bs = b.shape.length === 1 ? [b.shape[0], 1] : b.shape;
  const batch = broadcastShape(as.slice(0, -2), bs.slice(0, -2));
  const [m, k, n] = [as[as.length - 2], as[as.length - 1], bs[bs.length - 1]];
  const A = { shape: as, data: a.data };
  const B = { shape: bs, data: b.data };
  const nb = size(batch);
  const data: number[] = [];
  for (let bi = 0; bi < nb; bi++) {
    const bidx = unravel(bi, batch);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += at(A, [...bidx, i, p]) * at(B, [...bidx, p, j]);
        data.push(s);
      }
    }
  }
  const shape = [...batch];
  if (a.shape.length > 1) shape.push(m);
  if (b.shape.length > 1) shape.push(n);
  return { shape, data };
}

export interface ConvOpts {
  strides?: number[];
  pads?: number[];
  dilations?: number[];
  group?: number;
}

/** 2-D convolution, NCHW, weights [M, C/group, kH, kW] (ONNX Conv). */
export function conv2d(x: Arr, w: Arr, bias: Arr | null, o: ConvOpts = {}): Arr {
  const [N, C, H, W] = x.shape;
  const [M, Cg, KH, KW] = w.shape;
  const [sh, sw] = o.strides ?? [1, 1];
  const [dh, dw] = o.dilations ?? [1, 1];
  const [pt, pl, pb, pr] = o.pads ?? [0, 0, 0, 0];
  const g = o.group ?? 1;
  const OH = Math.floor((H + pt + pb - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + pl + pr - dw * (KW - 1) - 1) / sw) + 1;
  const Mg = M / g;
  if (Cg * g !== C) throw new Error('conv2d: channels do not match groups');
  const data = new Array<number>(N * M * OH * OW).fill(0);
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      const grp = Math.floor(m / Mg);
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          let s = bias ? bias.data[m] : 0;
          for (let c = 0; c < Cg; c++)
            for (let kh = 0; kh < KH; kh++)
              for (let kw = 0; kw < KW; kw++) {
                const ih = oh * sh - pt + kh * dh;
                const iw = ow * sw - pl + kw * dw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += x.data[((n * C + grp * Cg + c) * H + ih) * W + iw] * w.data[((m * Cg + c) * KH + kh) * KW + kw];
              }
          data[((n * M + m) * OH + oh) * OW + ow] = s;
        }
    }
  return { shape: [N, M, OH, OW], data };
}

/** 2-D transposed convolution, weights [C, M/group, kH, kW] (ONNX ConvTranspose): scatter form. */
export function convTranspose2d(x: Arr, w: Arr, bias: Arr | null, o: ConvOpts & { outputPadding?: number[] } = {}): Arr {
  const [N, C, H, W] = x.shape;
  const [, Mg, KH, KW] = w.shape;
  const [sh, sw] = o.strides ?? [1, 1];
  const [dh, dw] = o.dilations ?? [1, 1];
  const [pt, pl, pb, pr] = o.pads ?? [0, 0, 0, 0];
  const [oph, opw] = o.outputPadding ?? [0, 0];
  const g = o.group ?? 1;
  const Cg = C / g;
  const M = Mg * g;
  const OH = sh * (H - 1) + oph + (KH - 1) * dh + 1 - pt - pb;
  const OW = sw * (W - 1) + opw + (KW - 1) * dw + 1 - pl - pr;
  const data = new Array<number>(N * M * OH * OW).fill(0);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const grp = Math.floor(c / Cg);
      for (let ih = 0; ih < H; ih++)
        for (let iw = 0; iw < W; iw++) {
          const v = x.data[((n * C + c) * H + ih) * W + iw];
          for (let mg = 0; mg < Mg; mg++)
            for (let kh = 0; kh < KH; kh++)
              for (let kw = 0; kw < KW; kw++) {
                const oh = ih * sh + kh * dh - pt;
                const ow = iw * sw + kw * dw - pl;
                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
                const m = grp * Mg + mg;
                data[((n * M + m) * OH + oh) * OW + ow] += v * w.data[((c * Mg + mg) * KH + kh) * KW + kw];
              }
        }
    }
  if (bias) for (let i = 0; i < data.length; i++) data[i] += bias.data[Math.floor(i / (OH * OW)) % M];
  return { shape: [N, M, OH, OW], data };
}

// ------------------------------------------------------------ shape ops

export function transpose(x: Arr, perm: number[]): Arr {
  const shape = perm.map((p) => x.shape[p]);
  const n = size(shape);
  const data = new Array<number>(n);
  const xs = stridesOf(x.shape);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, shape);
    let f = 0;
    for (let k = 0; k < perm.length; k++) f += idx[k] * xs[perm[k]];
    data[i] = x.data[f];
  }
  return { shape, data };
}

export function concat(xs: Arr[], axis: number): Arr {
  const r = xs[0].shape.length;
  const a = norm(axis, r);
  const shape = [...xs[0].shape];
  shape[a] = xs.reduce((p, x) => p + x.shape[a], 0);
  const data = new Array<number>(size(shape));
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape);
    let k = 0;
    let j = idx[a];
    while (j >= xs[k].shape[a]) j -= xs[k++].shape[a];
    idx[a] = j;
    data[i] = xs[k].data[ravel(idx, xs[k].shape)];
  }
  return { shape, data };
}

export function slice(x: Arr, starts: number[], ends: number[], axes?: number[], steps?: number[]): Arr {
  const r = x.shape.length;
  const st = x.shape.map(() => 0);
  const en = [...x.shape];
  const sp = x.shape.map(() => 1);
  (axes ?? starts.map((_, i) => i)).forEach((ax, i) => {
    const a = norm(ax, r);
    const d = x.shape[a];
    const step = steps?.[i] ?? 1;
    let s = starts[i] < 0 ? starts[i] + d : starts[i];
    let e = ends[i] < 0 ? ends[i] + d : ends[i];
    if (step > 0) {
      s = Math.min(Math.max(s, 0), d);
      e = Math.min(Math.max(e, 0), d);
    } else {
      s = Math.min(Math.max(s, 0), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
    }
    st[a] = s;
    en[a] = e;
    sp[a] = step;
  });
  const shape = x.shape.map((_, a) => Math.max(0, Math.ceil((en[a] - st[a]) / sp[a])));
  const data = new Array<number>(size(shape));
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape).map((v, a) => st[a] + v * sp[a]);
    data[i] = x.data[ravel(idx, x.shape)];
  }
  return { shape, data };
}

export function split(x: Arr, sizes: number[], axis: number): Arr[] {
  let start = 0;
  return sizes.map((s) => {
    const out = slice(x, [start], [start + s], [axis]);
    start += s;
    return out;
  });
}

export function expand(x: Arr, shape: number[]): Arr {
  return map([x, { shape, data: new Array<number>(size(shape)).fill(0) }], (v) => v);
}

export function gather(x: Arr, indices: Arr, axis: number): Arr {
  const a = norm(axis, x.shape.length);
  const shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
  const data = new Array<number>(size(shape));
  const ri = indices.shape.length;
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape);
    const j = indices.data[ravel(idx.slice(a, a + ri), indices.shape)];
    const src = [...idx.slice(0, a), j < 0 ? j + x.shape[a] : j, ...idx.slice(a + ri)];
    data[i] = x.data[ravel(src, x.shape)];
  }
  return { shape, data };
}

export function pad(x: Arr, pads: number[], value: number, mode: 'constant' | 'reflect' | 'edge'): Arr {
  const r = x.shape.length;
  const shape = x.shape.map((d, i) => d + pads[i] + pads[i + r]);
  const data = new Array<number>(size(shape));
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape).map((v, a) => v - pads[a]);
    let inside = true;
    const src = idx.map((v, a) => {
      const d = x.shape[a];
      if (v >= 0 && v < d) return v;
      inside = false;
      if (mode === 'edge') return Math.min(Math.max(v, 0), d - 1);
      // reflect without repeating the edge: -1 -> 1, d -> d-2
      let u = v;
      while (u < 0 || u >= d) u = u < 0 ? -u : 2 * (d - 1) - u;
      return u;
    });
    data[i] = inside || mode !== 'constant' ? x.data[ravel(src, x.shape)] : value;
  }
  return { shape, data };
}

/** Nearest resize, asymmetric coordinates, floor rounding: out[i] = in[floor(i / scale)]. */
export function resizeNearest(x: Arr, scales: number[]): Arr {
  const shape = x.shape.map((d, i) => Math.floor(d * scales[i]));
  const data = new Array<number>(size(shape));
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape).map((v, a) => Math.min(Math.floor(v / scales[a]), x.shape[a] - 1));
    data[i] = x.data[ravel(idx, x.shape)];
  }
  return { shape, data };
}

// ------------------------------------------------------------ reductions and normalisation

export function reduce(x: Arr, axes: number[], keepdims: boolean, kind: 'sum' | 'mean' | 'max'): Arr {
  const r = x.shape.length;
  const ax = (axes.length ? axes : x.shape.map((_, i) => i)).map((a) => norm(a, r));
  const kept = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const acc = new Array<number>(size(kept)).fill(kind === 'max' ? -Infinity : 0);
  for (let i = 0; i < x.data.length; i++) {
    const idx = unravel(i, x.shape).map((v, a) => (ax.includes(a) ? 0 : v));
    const j = ravel(idx, kept);
    acc[j] = kind === 'max' ? Math.max(acc[j], x.data[i]) : acc[j] + x.data[i];
  }
  const count = ax.reduce((p, a) => p * x.shape[a], 1);
  const data = kind === 'mean' ? acc.map((v) => v / count) : acc;
  return { shape: keepdims ? kept : x.shape.filter((_, i) => !ax.includes(i)), data };
}

export function softmax(x: Arr, axis: number): Arr {
  const a = norm(axis, x.shape.length);
  const mx = reduce(x, [a], true, 'max');
  const e = map([x, mx], (v, m) => Math.exp(v - m));
  const s = reduce(e, [a], true, 'sum');
  return map([e, s], (v, t) => v / t);
}

/** Normalises over `axes` (mean/variance with divisor n), then scale and bias broadcast. */
function normalize(x: Arr, axes: number[], eps: number, scale: Arr, bias: Arr | null): Arr {
  const mean = reduce(x, axes, true, 'mean');
  const centered = map([x, mean], (v, m) => v - m);
  const variance = reduce(unary(centered, (v) => v * v), axes, true, 'mean');
  const y = map([centered, variance], (c, v) => c / Math.sqrt(v + eps));
  const ys = map([y, scale], (v, s) => v * s);
  return bias ? map([ys, bias], (v, b) => v + b) : ys;
}

export function instanceNorm(x: Arr, scale: Arr, bias: Arr, eps: number): Arr {
  const spatial = x.shape.slice(2).map((_, i) => i + 2);
  const bshape = [x.shape[1], ...spatial.map(() => 1)];
  return normalize(x, spatial, eps, { shape: bshape, data: scale.data }, { shape: bshape, data: bias.data });
}

export function layerNorm(x: Arr, scale: Arr, bias: Arr | null, axis: number, eps: number): Arr {
  const a = norm(axis, x.shape.length);
  const axes = x.shape.slice(a).map((_, i) => i + a);
  return normalize(x, axes, eps, scale, bias);
}

export function pool2d(x: Arr, kind: 'avg' | 'max', o: { kernel: number[]; strides?: number[]; pads?: number[]; countIncludePad?: boolean }): Arr {
  const [N, C, H, W] = x.shape;
  const [KH, KW] = o.kernel;
  const [sh, sw] = o.strides ?? [1, 1];
  const [pt, pl, pb, pr] = o.pads ?? [0, 0, 0, 0];
  const OH = Math.floor((H + pt + pb - KH) / sh) + 1;
  const OW = Math.floor((W + pl + pr - KW) / sw) + 1;
  const data: number[] = [];
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          let s = kind === 'max' ? -Infinity : 0;
          let cnt = 0;
          for (let kh = 0; kh < KH; kh++)
            for (let kw = 0; kw < KW; kw++) {
              const ih = oh * sh - pt + kh;
              const iw = ow * sw - pl + kw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              const v = x.data[((n * C + c) * H + ih) * W + iw];
              s = kind === 'max' ? Math.max(s, v) : s + v;
              cnt++;
            }
          data.push(kind === 'max' ? s : s / (o.countIncludePad ? KH * KW : cnt));
        }
  return { shape: [N, C, OH, OW], data };
}
