/**
 * Waiting for kernel fds without blocking Node's event loop: epoll_wait runs
 * on a koffi worker thread; an eventfd in the same epoll set lets close()
 * wake a pending wait at once.
 */
import { OwnedFd } from './fd.ts';
import { EPOLL_EVENT_SIZE, NativeBuffer, sysEpollAdd, sysEpollCreate, sysEpollWaitAsync, sysEventfd, sysEventfdSignal } from './ffi.ts';

const WAKE_TAG = 0xffffffff;

export class EpollWaiter {
  readonly #epoll: OwnedFd;
  readonly #wake: OwnedFd;
  readonly #events: NativeBuffer;
  #pending: Promise<number[]> | undefined;
  #closed = false;

  constructor(maxEvents: number) {
    this.#epoll = new OwnedFd(sysEpollCreate(), 'epoll');
    try {
      this.#wake = new OwnedFd(sysEventfd(), 'eventfd');
      sysEpollAdd(this.#epoll.fd, this.#wake.fd, WAKE_TAG);
    } catch (error) {
      this.#epoll.close();
      throw error;
    }
    this.#events = NativeBuffer.allocate((maxEvents + 1) * EPOLL_EVENT_SIZE);
  }

  /** Adds a readable fd; its events come back as `tag`. */
  add(fd: number, tag: number): void {
    sysEpollAdd(this.#epoll.fd, fd, tag);
  }

  /** Waits until a registered fd is readable (or close()/timeout); resolves with the ready tags. */
  async wait(timeoutMs = -1): Promise<number[]> {
    if (this.#closed) return [];
    if (this.#pending) throw new Error('EpollWaiter.wait called while a wait is pending'); // programming error
    this.#pending = sysEpollWaitAsync(this.#epoll.fd, this.#events, timeoutMs);
    try {
      const tags = await this.#pending;
      return tags.filter((t) => t !== WAKE_TAG);
    } finally {
      this.#pending = undefined;
      if (this.#closed) this.#release();
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Wakes a pending wait and releases everything once it returned. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pending) sysEventfdSignal(this.#wake.fd);
    else this.#release();
  }

  #release(): void {
    this.#epoll.close();
    this.#wake.close();
    this.#events.free();
  }
}
