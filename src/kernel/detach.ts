/**
 * Detaching many links at once. Closing a perf-event link (tracepoints,
 * uprobes) waits in the kernel for RCU grace periods, about 30 ms each on
 * this machine, so closing the 361 links of `tracepoint:syscalls:sys_enter_*`
 * one after another takes ~27 s. Here the link fds are closed by several
 * helper processes side by side, so those waits overlap. The perf events behind the links are
 * released one at a time by the kernel whatever we do (perf_trace_destroy
 * holds event_mutex across a tracepoint grace period); once their links are
 * closed no program runs on them any more, so they can be handed to a
 * short-lived background process whose exit releases them.
 */
import { spawn } from 'node:child_process';
import { sysClose } from './ffi.ts';
import { KernelLink, type Link } from './link.ts';

/** Most helper processes closing links at once; each spends its time asleep in the kernel. */
const MAX_CLOSERS = 48;
/** Below this many links a plain close() is faster than starting helpers. */
const CONCURRENT_THRESHOLD = 8;

/**
 * Gives each of a few child processes a share of `fds` to hold, closes this
 * process's copies, then lets the children exit: each child's exit releases
 * its share, the children side by side. Resolves when they have exited,
 * unless `wait` is false (then the release finishes in the background).
 * Processes rather than threads: a shell costs far less to start than a
 * Node worker, and only the kernel does work here.
 */
function closeInChildren(fds: readonly number[], wait: boolean): Promise<void> {
  const closers = wait ? Math.min(MAX_CLOSERS, Math.ceil(fds.length / 4)) : 1;
  const exited: Promise<void>[] = [];
  for (let c = 0; c < closers; c++) {
    const share = fds.filter((_, i) => i % closers === c);
    // The child blocks on its stdin until this process has closed its copies, so the child's are the last references.
    let child;
    try {
      child = spawn('/bin/sh', ['-c', 'read _'], { stdio: ['pipe', 'ignore', 'ignore', ...share], detached: !wait });
    } catch {
      // No process to hand them to (out of fds or processes): close them here, one by one.
      share.forEach(sysClose);
      continue;
    }
    share.forEach(sysClose);
    exited.push(new Promise<void>((resolve) => child.once('exit', () => resolve()).once('error', () => resolve())));
    child.stdin!.end();
    if (!wait) child.unref();
  }
  return wait ? Promise.all(exited).then(() => undefined) : Promise.resolve();
}

export interface CloseLinksOptions {
  /**
   * Leave the perf events behind the detached links to a background
   * process (default false: wait for the kernel to release them, ~35 ms
   * each for tracepoints, one at a time). Either way every program is
   * detached when the promise resolves.
   */
  releasePerfEventsInBackground?: boolean;
}

/** Closes `links` with the kernel's waits overlapped; resolves once no link runs its program any more. */
export async function closeLinksConcurrently(links: readonly Link[], options: CloseLinksOptions = {}): Promise<void> {
  const owned = links.filter((l): l is KernelLink => l instanceof KernelLink && !l.closed);
  if (owned.length < CONCURRENT_THRESHOLD) {
    links.forEach((l) => l.close());
    return;
  }
  links.filter((l) => !(l instanceof KernelLink)).forEach((l) => l.close());
  const taken = owned.map((l) => l.takeFds());
  await closeInChildren(taken.map((t) => t.link), true);
  const perfEvents = taken.flatMap((t) => t.auxiliary);
  if (perfEvents.length === 0) return;
  await closeInChildren(perfEvents, options.releasePerfEventsInBackground !== true);
}
