/**
 * Ownership of kernel file descriptors. Every fd this process creates is
 * wrapped in an FdResource: `close()` is idempotent, use after close throws
 * ClosedError, a FinalizationRegistry closes fds of objects that were
 * dropped without close(), and on exit, SIGINT, SIGTERM or an uncaught
 * exception everything still open is closed, so only pins the user asked
 * for outlive the process.
 */
import { ClosedError } from './errors.ts';
import { sysClose } from './ffi.ts';

/** Every open fd this process owns, with an optional extra cleanup (unmapping, detaching...). */
const live = new Map<number, { kind: string; release?: () => void }>();

const finalizer = new FinalizationRegistry<number>((fd) => closeOwned(fd));

function closeOwned(fd: number): void {
  const entry = live.get(fd);
  if (!entry) return;
  live.delete(fd);
  try {
    entry.release?.();
  } finally {
    sysClose(fd);
  }
}

let hooksInstalled = false;

function closeEverything(): void {
  for (const fd of [...live.keys()]) {
    try {
      closeOwned(fd);
    } catch {
      // keep closing the rest: this runs while the process goes away
    }
  }
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', closeEverything);
  // Only when the exception is fatal: a process with an 'uncaughtException' handler keeps running and keeps its objects.
  process.on('uncaughtExceptionMonitor', () => {
    if (process.listenerCount('uncaughtException') === 0) closeEverything();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      // Another handler decides what the signal means (the process may go on): leave the objects to it and to 'exit'.
      if (process.listenerCount(signal) > 1) return;
      closeEverything();
      // Restore the default action so the signal still terminates the process.
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    // First in line, so that it counts a handler that `process.once` removes as it is called.
    process.prependListener(signal, onSignal);
  }
}

const creationObservers = new Set<(resource: FdResource, fd: number) => void>();

/**
 * Calls `observer` for every FdResource created from now on (tests use it to
 * record the kernel ids of what they create). Returns the unsubscribe function.
 */
export function observeCreations(observer: (resource: FdResource, fd: number) => void): () => void {
  creationObservers.add(observer);
  return () => creationObservers.delete(observer);
}

/** Number of fds this process currently owns through FdResource (for leak checks in tests). */
export function openFdCount(): number {
  return live.size;
}

/** Closes every fd this process created through the kernel backend. */
export function closeAll(): void {
  closeEverything();
}

/** Base of every object holding a kernel fd. */
export abstract class FdResource {
  #fd: number;
  /** Kind shown in errors: `map`, `program`, `link`... */
  protected abstract readonly kind: string;

  protected constructor(fd: number, release?: () => void) {
    this.#fd = fd;
    live.set(fd, { kind: 'fd', release });
    finalizer.register(this, fd, this);
    installExitHooks();
    for (const observe of creationObservers) observe(this, fd);
  }

  /** The file descriptor; throws ClosedError after close(). */
  get fd(): number {
    if (this.#fd < 0) throw new ClosedError(`${this.describe()} is closed`);
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Text naming the object in errors (kind and name). */
  protected describe(): string {
    return this.kind;
  }

  /**
   * Hands the raw fd to the caller, who must close it: this object is then
   * closed, and neither its release step nor the exit hooks touch the fd.
   */
  protected disown(): number {
    const fd = this.fd;
    this.#fd = -1;
    finalizer.unregister(this);
    live.delete(fd);
    return fd;
  }

  /** Releases the fd (and anything attached to it). Closing twice does nothing. */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    finalizer.unregister(this);
    closeOwned(fd);
  }
}

/** A bare owned fd (perf events, cgroup directories...) used internally by links and readers. */
export class OwnedFd extends FdResource {
  protected readonly kind: string;
  constructor(fd: number, kind: string, release?: () => void) {
    super(fd, release);
    this.kind = kind;
  }

  /** The raw fd, now the caller's to close (see FdResource.disown). */
  take(): number {
    return this.disown();
  }
}
