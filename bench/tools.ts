/**
 * Per-event overhead of the tools on loads that generate their events,
 * against no tracing, in one run: a C child opens a file N times (for
 * opensnoop) or runs /bin/true N times with fork+execve (for execsnoop) and
 * reports the nanoseconds per operation it measured. The overhead per event
 * is the traced figure minus the untraced one; each configuration runs
 * `rounds` times, alternating, and the medians are compared. The tools run
 * as users run them (the library functions behind `tsbpf opensnoop` and
 * `tsbpf execsnoop`, consuming every event), and trace the whole machine.
 *
 *   node --import tsx bench/tools.ts [opens=200000] [execs=2000] [rounds=5]
 *
 * Needs root and gcc.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execsnoop, opensnoop } from '../src/tools/index.ts';

if (process.platform !== 'linux' || process.getuid?.() !== 0) {
  console.log('tools bench skipped: needs Linux and root');
  process.exit(0);
}

const opens = Number(process.argv[2] ?? 200_000);
const execs = Number(process.argv[3] ?? 2_000);
const rounds = Number(process.argv[4] ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'tsbpf-tools-bench-'));
const load = join(dir, 'load');
const target = join(dir, 'target');
writeFileSync(target, 'x');
writeFileSync(
  `${load}.c`,
  `#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
int main(int argc, char **argv) {
  long n = atol(argv[2]);
  double start = now();
  if (!strcmp(argv[1], "open")) {
    for (long i = 0; i < n; i++) close(open(argv[3], O_RDONLY));
  } else {
    for (long i = 0; i < n; i++) {
      pid_t pid = fork();
      if (pid == 0) { execl("/bin/true", "true", "--tsbpf-bench", (char *)0); _exit(127); }
      waitpid(pid, 0, 0);
    }
  }
  printf("%.1f\\n", (now() - start) / n);
  return 0;
}
`,
);
execFileSync('gcc', ['-O2', '-o', load, `${load}.c`]);

/** Runs the load; resolves with its pid's nanoseconds per operation. */
function runLoad(args: string[]): { pid: number; nsPerOp: Promise<number> } {
  const child = spawn(load, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return { pid: child.pid!, nsPerOp: new Promise((resolve) => child.once('exit', () => resolve(Number(out.trim())))) };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

interface Figures {
  base: number[];
  traced: number[];
  seen: number[];
  lost: number[];
}

/** One untraced and one traced run of a load; `trace` runs the tool until the load ends and counts the load's events. */
async function measure(args: string[], expected: number, trace: (signal: AbortSignal, onReady: () => void, state: { pid: number; seen: number; lost: number }) => Promise<void>, figures: Figures): Promise<void> {
  figures.base.push(await runLoad(args).nsPerOp);
  const controller = new AbortController();
  const state = { pid: -1, seen: 0, lost: 0 };
  let started: Promise<number> | undefined;
  const tracing = trace(controller.signal, () => {
    const run = runLoad(args);
    state.pid = run.pid;
    started = run.nsPerOp;
  }, state);
  while (started === undefined) await new Promise((r) => setTimeout(r, 10));
  figures.traced.push(await started);
  // Give the consumer a moment for the records still in the ring buffer.
  await new Promise((r) => setTimeout(r, 300));
  controller.abort();
  await tracing;
  figures.seen.push(state.seen / expected);
  figures.lost.push(state.lost);
}

const openFigures: Figures = { base: [], traced: [], seen: [], lost: [] };
const execFigures: Figures = { base: [], traced: [], seen: [], lost: [] };
for (let round = 0; round < rounds; round++) {
  await measure(['open', String(opens), target], opens, async (signal, onReady, state) => {
    for await (const e of opensnoop({ signal, onReady, onLost: (n) => (state.lost = n) })) if (e.pid === state.pid && e.path === target) state.seen++;
  }, openFigures);
  await measure(['exec', String(execs)], execs, async (signal, onReady, state) => {
    // Each exec is in a new child: the bench's /bin/true runs are known by their argv.
    for await (const e of execsnoop({ signal, onReady, onLost: (n) => (state.lost = n) })) if (e.ppid === state.pid && e.argv[1] === '--tsbpf-bench') state.seen++;
  }, execFigures);
}
rmSync(dir, { recursive: true, force: true });

console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}, ${rounds} rounds, medians`);
console.log('tool        load              untraced ns/op  traced ns/op  overhead ns/event  traced/untraced  events seen  lost (whole machine)');
for (const [tool, what, figures] of [
  ['opensnoop', `${opens} open+close`, openFigures],
  ['execsnoop', `${execs} fork+exec`, execFigures],
] as const) {
  const base = median(figures.base);
  const traced = median(figures.traced);
  console.log(
    `${tool.padEnd(11)} ${what.padEnd(17)} ${base.toFixed(0).padStart(14)} ${traced.toFixed(0).padStart(13)} ${(traced - base).toFixed(0).padStart(18)} ${(traced / base).toFixed(2).padStart(15)}x ${(100 * median(figures.seen)).toFixed(1).padStart(10)}% ${String(median(figures.lost)).padStart(21)}`,
  );
}
