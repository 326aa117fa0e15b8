/** Runs fuzz cases: ONNX mutations in child processes (a native abort only shows there), the rest in-process. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { classify, FuzzCase, Outcome } from './cases';

export interface CaseResult {
  case: FuzzCase;
  outcome: Outcome;
  stderr: string;
  ms: number;
  /** Resident memory after an in-process case, bytes. */
  rss?: number;
}

export interface RunOptions {
  repoRoot: string;
  jobs: number;
  timeoutMs: number;
  /** JS heap cap of a child, MB. */
  heapMb: number;
  /** Memory the checks may assume (ONNX_DIFFUSION_MEMORY_MB), MB. */
  memoryMb: number;
  onResult?: (r: CaseResult) => void;
}

function runChild(c: FuzzCase, o: RunOptions): Promise<CaseResult> {
  const started = Date.now();
  const child = spawn(process.execPath, [`--max-old-space-size=${o.heapMb}`, '--import', 'tsx', join(o.repoRoot, 'src/cli/main.ts'), ...c.args], {
    cwd: o.repoRoot, env: { ...process.env, ONNX_DIFFUSION_MEMORY_MB: String(o.memoryMb) },
  });
  let stderr = '';
  let timedOut = false;
  child.stdout.resume();
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, o.timeoutMs);
  return new Promise((resolve) => child.on('close', (code, signal) => {
    clearTimeout(timer);
    resolve({ case: c, outcome: classify(c, { code, signal, stderr, timedOut }), stderr, ms: Date.now() - started });
  }));
}

async function runInProcess(c: FuzzCase, o: RunOptions): Promise<CaseResult> {
  const started = Date.now();
  const write = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  let stderr = '';
  const before = process.exitCode;
  const env = process.env.ONNX_DIFFUSION_MEMORY_MB;
  process.env.ONNX_DIFFUSION_MEMORY_MB = String(o.memoryMb);
  process.exitCode = 0;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  try {
    c.before?.();
    await Promise.race([main(c.args), new Promise<void>((resolve) => (timer = setTimeout(() => ((timedOut = true), resolve()), o.timeoutMs)))]);
  } finally {
    clearTimeout(timer);
    process.stdout.write = write.out;
    process.stderr.write = write.err;
    if (env === undefined) delete process.env.ONNX_DIFFUSION_MEMORY_MB;
    else process.env.ONNX_DIFFUSION_MEMORY_MB = env;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = before;
  let broken: Outcome | undefined;
  try {
    broken = c.after?.(code);
  } catch (e) {
    stderr += `\nerror: internal error: the case's check failed: ${(e as Error).message}`;
  }
  const outcome = broken ?? classify(c, { code, signal: null, stderr, timedOut });
  return { case: c, outcome, stderr, ms: Date.now() - started, rss: process.memoryUsage().rss };
}

/** Runs every case; children `jobs` at a time, in-process cases one at a time beside them. */
export async function runCases(cases: FuzzCase[], o: RunOptions): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  const children = cases.filter((c) => c.child);
  const local = cases.filter((c) => !c.child);
  let next = 0;
  const worker = async () => {
    while (next < children.length) {
      const r = await runChild(children[next++], o);
      results.push(r);
      o.onResult?.(r);
    }
  };
  const inProcess = async () => {
    for (const c of local) {
      const r = await runInProcess(c, o);
      results.push(r);
      o.onResult?.(r);
    }
  };
  await Promise.all([...Array.from({ length: Math.max(1, o.jobs) }, worker), inProcess()]);
  return results.sort((a, b) => a.case.id - b.case.id);
}

/** Outcome counts per family, as a printable table. */
export function outcomeTable(results: CaseResult[]): string {
  const families = [...new Set(results.map((r) => r.case.family))].sort();
  const outcomes = [...new Set(results.map((r) => r.outcome))].sort();
  const rows = [['family', ...outcomes, 'total']];
  for (const f of [...families, 'all']) {
    const rs = results.filter((r) => f === 'all' || r.case.family === f);
    rows.push([f, ...outcomes.map((o) => String(rs.filter((r) => r.outcome === o).length)), String(rs.length)]);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((s, i) => (i === 0 ? s.padEnd(w[i]) : s.padStart(w[i]))).join('  ')).join('\n');
}
