/**
 * Per-event overhead of `tsbpf trace` on a syscall-heavy load, against no
 * tracing and, when it is installed, against bpftrace itself, in one run.
 * A C child makes getppid() calls in a loop and reports the CPU time it
 * spent per call (CLOCK_PROCESS_CPUTIME_ID: the BPF program runs inside
 * the traced syscall, so its cost is the process's system time, and time
 * the process spends preempted by other work on a shared machine does not
 * count). The overhead of a script is its figure minus the untraced one.
 * Scripts:
 *   count:  tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }
 *   printf: tracepoint:syscalls:sys_enter_getppid { printf("%d %s\n", pid, comm); }
 * (printf output is consumed and discarded, as `> /dev/null` would).
 * Each round runs untraced, tsbpf and bpftrace back to back, in an order
 * that rotates from round to round; the figures are the medians over the
 * rounds, with every round's ratio printed too.
 * Then start-up and exit of the 361-probe wildcard through the CLI
 * (`tsbpf trace -e 'tracepoint:syscalls:sys_enter_* { @[probe] = count(); }' -c /bin/true`)
 * against the same bpftrace command: wall-clock from spawn to the
 * "Attaching" line and from there to the process's exit.
 *
 *   node --import tsx bench/trace.ts [calls=1000000] [rounds=5] [--no-wildcard]
 *
 * Needs root and gcc; bpftrace (apt-get install bpftrace) for its column.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileScript, runInKernel } from '../src/trace/index.ts';

if (process.platform !== 'linux' || process.getuid?.() !== 0) {
  console.log('trace bench skipped: needs Linux and root');
  process.exit(0);
}

const numbers = process.argv.slice(2).filter((a) => /^\d+$/.test(a)).map(Number);
const calls = numbers[0] ?? 1_000_000;
const rounds = numbers[1] ?? 5;
const wildcard = !process.argv.includes('--no-wildcard');
const dir = mkdtempSync(join(tmpdir(), 'tsbpf-trace-bench-'));
const load = join(dir, 'getppid-load');
writeFileSync(
  `${load}.c`,
  `#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <time.h>
int main(int argc, char **argv) {
  long n = atol(argv[1]);
  struct timespec a, b;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
  for (long i = 0; i < n; i++) syscall(SYS_getppid);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
  printf("NS_PER_CALL %.1f\\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
  return 0;
}
`,
);
execFileSync('gcc', ['-O2', '-o', load, `${load}.c`]);

/** Runs the load with `n` calls and returns its ns per call. */
function runLoad(n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(load, [String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', () => {
      const m = /NS_PER_CALL ([\d.]+)/.exec(out);
      if (m === null) reject(new Error(`load printed ${out}`));
      else resolve(Number(m[1]));
    });
  });
}

async function underTsbpf(script: string, n: number): Promise<{ ns: number; lost: bigint }> {
  let ns = 0;
  const session = await runInKernel(compileScript(script), {
    write: () => {},
    format: 'text',
    startCommand: async () => {
      ns = await runLoad(n);
    },
  });
  return { ns, lost: session.lost };
}

function bpftraceAvailable(): boolean {
  try {
    execFileSync('bpftrace', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function underBpftrace(script: string, n: number): number | undefined {
  try {
    const out = execFileSync('bpftrace', ['-e', script, '-c', `${load} ${n}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 30 });
    const m = /NS_PER_CALL ([\d.]+)/.exec(out);
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

const SCRIPTS = [
  { name: 'count', script: 'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }', calls },
  { name: 'printf', script: 'tracepoint:syscalls:sys_enter_getppid { printf("%d %s\\n", pid, comm); }', calls: Math.max(1000, Math.floor(calls / 5)) },
];

/** Spawns `command`; returns ms until it printed "Attaching" and ms from then until it exited. */
function timeStartAndExit(command: string, args: string[]): Promise<{ attaching: number; exit: number; code: number | null }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    let attaching = 0;
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.on('data', (d: Buffer) => {
      if (attaching === 0 && d.toString().includes('Attaching')) attaching = performance.now();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const end = performance.now();
      resolve({ attaching: (attaching || end) - start, exit: end - (attaching || end), code });
    });
  });
}

const WILDCARD = 'tracepoint:syscalls:sys_enter_* { @[probe] = count(); }';
const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

async function wildcardStartAndExit(withBpftrace: boolean): Promise<void> {
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
  const ours = await timeStartAndExit(process.execPath, ['--import', 'tsx', CLI, 'trace', '-e', WILDCARD, '-c', '/bin/true']);
  let line = `wildcard (${WILDCARD}, -c /bin/true): tsbpf start to "Attaching" ${seconds(ours.attaching)}, then attach + run + detach + exit ${seconds(ours.exit)} (exit code ${ours.code})`;
  if (withBpftrace) {
    const theirs = await timeStartAndExit('bpftrace', ['-e', WILDCARD, '-c', '/bin/true']);
    line += `; bpftrace ${seconds(theirs.attaching)}, then ${seconds(theirs.exit)} (exit code ${theirs.code}); total tsbpf/bpftrace ${((ours.attaching + ours.exit) / (theirs.attaching + theirs.exit)).toFixed(3)}`;
  }
  console.log(line);
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

try {
  const withBpftrace = bpftraceAvailable();
  console.log(`load: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`);
  await runLoad(calls / 10); // warm-up
  console.log(`getppid() load, ${calls} calls (printf: ${SCRIPTS[1]!.calls}), ${rounds} rounds; CPU ns per call of the load, overhead per event vs no tracing`);
  for (const s of SCRIPTS) {
    const figures = { base: [] as number[], ours: [] as number[], theirs: [] as number[], ratios: [] as number[] };
    let lost = 0n;
    for (let round = 0; round < rounds; round++) {
      // Rotate the order, so a drift in the machine's load does not favour one side.
      const steps: (() => Promise<void>)[] = [
        async () => void figures.base.push(await runLoad(s.calls)),
        async () => {
          const ours = await underTsbpf(s.script, s.calls);
          figures.ours.push(ours.ns);
          lost += ours.lost;
        },
        ...(withBpftrace
          ? [
              async () => {
                const theirs = underBpftrace(s.script, s.calls);
                if (theirs !== undefined) figures.theirs.push(theirs);
              },
            ]
          : []),
      ];
      for (let i = 0; i < steps.length; i++) await steps[(i + round) % steps.length]!();
      const base = figures.base.at(-1)!;
      if (figures.theirs.length === round + 1) figures.ratios.push((figures.ours.at(-1)! - base) / (figures.theirs.at(-1)! - base));
    }
    const baseline = median(figures.base);
    const ours = median(figures.ours) - baseline;
    let line = `${s.name.padEnd(7)} untraced ${baseline.toFixed(0)} ns  tsbpf +${ours.toFixed(0)} ns/event (lost ${lost})`;
    if (figures.theirs.length > 0) {
      const theirs = median(figures.theirs) - baseline;
      line += `  bpftrace +${theirs.toFixed(0)} ns/event  tsbpf/bpftrace overhead ${(ours / theirs).toFixed(2)} (per round: ${figures.ratios.map((r) => r.toFixed(2)).join(', ')})`;
    } else if (withBpftrace) {
      line += '  bpftrace: failed';
    }
    console.log(line);
  }
  console.log(`load: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`);
  // Last: after tsbpf exits, the kernel still releases the wildcard's perf events in the background for a few seconds.
  if (wildcard) await wildcardStartAndExit(withBpftrace);
  if (!withBpftrace) console.log('bpftrace not installed: apt-get install bpftrace for the comparison');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
