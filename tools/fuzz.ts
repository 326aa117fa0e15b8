/**
 * The long fuzz mode: `npm run fuzz -- --cases N [--seed S] [--jobs J] [--timeout-ms T] [--report FILE] [--only ID,ID]`
 * (FILE: the outcome table so far, rewritten every 100 cases). Runs N
 * generated hostile cases against the CLI (tools/fuzz/cases.ts, shared with the test) and prints
 * a table of outcomes and every case that broke the contract.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { makeCase, makeSeeds, writeShared } from './fuzz/cases';
import { outcomeTable, runCases } from './fuzz/run';

function flag(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

async function fuzzMain(): Promise<void> {
  const n = flag('cases', 1000);
  const seed = flag('seed', 1);
  const repoRoot = resolve(__dirname, '..');
  const dir = mkdtempSync(join(tmpdir(), 'od-fuzz-'));
  const started = Date.now();
  try {
    const seeds = await makeSeeds(dir, repoRoot);
    writeShared(seeds);
    // --only 804,1491: replay those cases of the stream (after a fix), nothing else.
    const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1].split(',').map(Number) : undefined;
    const cases = only ? only.map((i) => makeCase(seeds, seed, i)) : Array.from({ length: n }, (_, i) => makeCase(seeds, seed, i));
    const partial: Awaited<ReturnType<typeof runCases>> = [];
    const report = process.argv.includes('--report') ? process.argv[process.argv.indexOf('--report') + 1] : undefined;
    const results = await runCases(cases, {
      repoRoot, jobs: flag('jobs', 2), timeoutMs: flag('timeout-ms', 60_000), heapMb: 2048, memoryMb: 4096,
      onResult: (r) => {
        partial.push(r);
        if (partial.length % 100 === 0) {
          const head = `${partial.length}/${n} cases, seed ${seed}, ${((Date.now() - started) / 1000).toFixed(0)} s`;
          process.stderr.write(`${head}\n`);
          // A long run can be stopped at any time: the table so far is on disk.
          const bad = partial.filter((x) => x.outcome !== 'ok' && x.outcome !== 'clean-error').map((x) => `case ${x.case.id} ${x.outcome}: ${x.case.mutation}: ${x.stderr.trim().split('\n').pop()?.slice(0, 300)}`);
          if (report) writeFileSync(report, `${head}\n${outcomeTable(partial)}\n${bad.join('\n')}\n`);
        }
      },
    });
    process.stdout.write(`fuzz: ${cases.length} cases, seed ${seed}, ${((Date.now() - started) / 1000).toFixed(0)} s\n${outcomeTable(results)}\n`);
    const bad = results.filter((r) => r.outcome !== 'ok' && r.outcome !== 'clean-error');
    for (const r of bad.slice(0, 50)) process.stdout.write(`case ${r.case.id} ${r.outcome}: ${r.case.mutation}: ${r.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 300)}\n`);
    const maxRss = Math.max(0, ...results.map((r) => r.rss ?? 0));
    process.stdout.write(`peak in-process RSS ${(maxRss / 2 ** 20).toFixed(0)} MiB; slowest case ${Math.max(...results.map((r) => r.ms))} ms\n`);
    process.exitCode = bad.length > 0 ? 1 : 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void fuzzMain();
