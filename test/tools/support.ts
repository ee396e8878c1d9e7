/**
 * Activity for the tools' kernel tests: a small C workload (compiled once
 * per run with gcc into a temporary directory) that waits for a line on
 * stdin before it acts, so a test can start it, trace its pid, then release it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'workload.c');
let built: { dir: string; binary: string } | undefined;

/** The workload binary (gcc -O1 -g: frame pointers kept so user stacks walk). */
export function workloadBinary(): string {
  if (built === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'tsbpf-tools-'));
    const binary = join(dir, 'workload');
    execFileSync('gcc', ['-O1', '-g', '-fno-omit-frame-pointer', '-o', binary, SOURCE]);
    built = { dir, binary };
  }
  return built.binary;
}

export function removeWorkload(): void {
  if (built) rmSync(built.dir, { recursive: true, force: true });
  built = undefined;
}

/** A started workload, waiting for `release()`; `finished` resolves with its exit code. */
export interface Workload {
  child: ChildProcess;
  pid: number;
  release(): void;
  finished: Promise<number | null>;
}

export function startWorkload(...args: string[]): Workload {
  const child = spawn(workloadBinary(), args, { stdio: ['pipe', 'ignore', 'inherit'] });
  const finished = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, pid: child.pid!, release: () => child.stdin!.write('go\n'), finished };
}
