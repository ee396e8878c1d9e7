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
#include <sys/resource.h>
#include <sys/wait.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
static double tv(struct timeval v) { return v.tv_sec * 1e9 + v.tv_usec * 1e3; }
/* CPU time of this process and its waited-for children, user and system. */
static double cpu(void) {
  struct rusage self, children;
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &children);
  return tv(self.ru_utime) + tv(self.ru_stime) + tv(children.ru_utime) + tv(children.ru_stime);
}
int main(int argc, char **argv) {
  long n = atol(argv[2]);
  double start = now(), start_cpu = cpu();
  if (!strcmp(argv[1], "open")) {
    for (long i = 0; i < n; i++) close(open(argv[3], O_RDONLY));
  } else {
    for (long i = 0; i < n; i++) {
      pid_t pid = fork();
      if (pid == 0) { execl("/bin/true", "true", "--tsbpf-bench", (char *)0); _exit(127); }
      waitpid(pid, 0, 0);
    }
  }
  printf("%.1f %.1f\\n", (now() - start) / n, (cpu() - start_cpu) / n);
  return 0;
}
`,
);
execFileSync('gcc', ['-O2', '-o', load, `${load}.c`]);

/** What one run of the load measured itself, per operation. */
interface LoadFigures {
  wallNs: number;
  cpuNs: number;
}

/** Runs the load; resolves with its own wall and CPU nanoseconds per operation. */
function runLoad(args: string[]): { pid: number; figures: Promise<LoadFigures> } {
  const child = spawn(load, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return {
    pid: child.pid!,
    figures: new Promise((resolve) =>
      child.once('exit', () => {
        const [wallNs, cpuNs] = out.trim().split(' ').map(Number) as [number, number];
        resolve({ wallNs, cpuNs });
      }),
    ),
  };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

interface Figures {
  base: LoadFigures[];
  traced: LoadFigures[];
  /** CPU nanoseconds of this process (the tool's consumer) per event of the load. */
  consumerNs: number[];
  seen: number[];
  lost: number[];
}

interface TraceState {
  pid: number;
  seen: number;
  lost: number;
}

/** One untraced and one traced run of a load; `trace` runs the tool until the load ends and counts the load's events. */
async function measure(args: string[], expected: number, trace: (signal: AbortSignal, onReady: () => void, state: TraceState) => Promise<void>, figures: Figures): Promise<void> {
  figures.base.push(await runLoad(args).figures);
  const controller = new AbortController();
  const state: TraceState = { pid: -1, seen: 0, lost: 0 };
  let started: Promise<LoadFigures> | undefined;
  let cpuBefore = process.cpuUsage();
  const tracing = trace(
    controller.signal,
    () => {
      cpuBefore = process.cpuUsage();
      const run = runLoad(args);
      state.pid = run.pid;
      started = run.figures;
    },
    state,
  );
  while (started === undefined) await new Promise((r) => setTimeout(r, 10));
  figures.traced.push(await started);
  // Give the consumer a moment for the records still in the ring buffer.
  await new Promise((r) => setTimeout(r, 300));
  controller.abort();
  await tracing;
  const used = process.cpuUsage(cpuBefore);
  figures.consumerNs.push(((used.user + used.system) * 1000) / Math.max(1, state.seen));
  figures.seen.push(state.seen / expected);
  figures.lost.push(state.lost);
}

const empty = (): Figures => ({ base: [], traced: [], consumerNs: [], seen: [], lost: [] });
const openFigures = empty();
const execFigures = empty();
for (let round = 0; round < rounds; round++) {
  await measure(
    ['open', String(opens), target],
    opens,
    async (signal, onReady, state) => {
      for await (const e of opensnoop({ signal, onReady, onLost: (n) => (state.lost = n) })) if (e.pid === state.pid && e.path === target) state.seen++;
    },
    openFigures,
  );
  await measure(
    ['exec', String(execs)],
    execs,
    async (signal, onReady, state) => {
      // Each exec is in a new child: the bench's /bin/true runs are known by their parent and argv.
      for await (const e of execsnoop({ signal, onReady, onLost: (n) => (state.lost = n) })) if (e.ppid === state.pid && e.argv[1] === '--tsbpf-bench') state.seen++;
    },
    execFigures,
  );
}
rmSync(dir, { recursive: true, force: true });

console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${rounds} rounds, medians; ns per operation (one event each)`);
console.log('tool       load               wall: untraced  traced  ratio | load CPU: untraced  traced  +per event | consumer CPU/event | events seen  lost (machine)');
for (const [tool, what, f] of [
  ['opensnoop', `${opens} open+close`, openFigures],
  ['execsnoop', `${execs} fork+exec`, execFigures],
] as const) {
  const wallBase = median(f.base.map((x) => x.wallNs));
  const wallTraced = median(f.traced.map((x) => x.wallNs));
  const cpuBase = median(f.base.map((x) => x.cpuNs));
  const cpuTraced = median(f.traced.map((x) => x.cpuNs));
  console.log(
    `${tool.padEnd(10)} ${what.padEnd(18)} ${wallBase.toFixed(0).padStart(14)} ${wallTraced.toFixed(0).padStart(7)} ${(wallTraced / wallBase).toFixed(2).padStart(5)}x | ${cpuBase.toFixed(0).padStart(17)} ${cpuTraced.toFixed(0).padStart(7)} ${(cpuTraced - cpuBase).toFixed(0).padStart(11)} | ${median(f.consumerNs).toFixed(0).padStart(18)} | ${(100 * median(f.seen)).toFixed(1).padStart(10)}% ${String(median(f.lost)).padStart(15)}`,
  );
}
