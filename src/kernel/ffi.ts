/**
 * The system calls the kernel backend needs, called from Node through koffi
 * (a prebuilt FFI shipped inside its npm package: no compiler at install
 * time). Only this file touches koffi; everything else works with numbers,
 * bigint addresses and Uint8Array views.
 *
 * Memory handed to the kernel by address (keys, values, instructions, log
 * buffers) must not move while the kernel uses it, so it lives in native
 * memory from mmap(MAP_ANONYMOUS) wrapped as a NativeBuffer; V8 may move
 * small typed arrays during GC, which makes their address unusable.
 */
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import type * as KoffiModule from 'koffi';
import { SyscallError } from './errors.ts';

let koffiModule: typeof KoffiModule | undefined;

// The require is made on first use: importing this module (as bundles of the trace front end do) must not need node:module.
function koffi(): typeof KoffiModule {
  koffiModule ??= createRequire(import.meta.url)('koffi') as typeof KoffiModule;
  return koffiModule;
}

/** Syscall numbers of the calls glibc has no wrapper for. */
const SYSCALL_NUMBERS: Record<string, { bpf: number; perfEventOpen: number }> = {
  x64: { bpf: 321, perfEventOpen: 298 },
  arm64: { bpf: 280, perfEventOpen: 241 },
  riscv64: { bpf: 280, perfEventOpen: 241 },
  loong64: { bpf: 280, perfEventOpen: 241 },
  ppc64: { bpf: 361, perfEventOpen: 319 },
  s390x: { bpf: 351, perfEventOpen: 331 },
};

/** An opaque native pointer as koffi represents it. */
export type NativePointer = unknown;

interface Libc {
  syscall4: (nr: number, a: number, b: unknown, c: number) => number;
  syscall6perf: (nr: number, attr: unknown, pid: number, cpu: number, groupFd: number, flags: number) => number;
  ioctl: (fd: number, request: number, arg: number) => number;
  mmap: (addr: null, length: number, prot: number, flags: number, fd: number, offset: number) => NativePointer;
  munmap: (addr: NativePointer, length: number) => number;
  close: (fd: number) => number;
  epollCreate1: (flags: number) => number;
  epollCtl: (epfd: number, op: number, fd: number, event: Uint8Array | null) => number;
  epollWait: ((epfd: number, events: NativePointer, max: number, timeout: number) => number) & {
    async: (epfd: number, events: NativePointer, max: number, timeout: number, cb: (err: unknown, n: number) => void) => void;
  };
  eventfd: (initval: number, flags: number) => number;
  write: (fd: number, buf: Uint8Array, n: number) => number;
  read: (fd: number, buf: Uint8Array, n: number) => number;
  setsockopt: (fd: number, level: number, name: number, value: Uint8Array, len: number) => number;
  socket: (domain: number, type: number, protocol: number) => number;
  ifNametoindex: (name: string) => number;
  ifIndextoname: (index: number, name: Uint8Array) => unknown;
  mount: (source: string, target: string, type: string, flags: number, data: null) => number;
  open: (path: string, flags: number, mode: number) => number;
  setns: (fd: number, nstype: number) => number;
  schedSetaffinity: (pid: number, size: number, mask: Uint8Array) => number;
  schedGetaffinity: (pid: number, size: number, mask: Uint8Array) => number;
  bind: (fd: number, addr: Uint8Array, len: number) => number;
  errno: () => number;
  address: (p: NativePointer) => bigint;
  view: (p: NativePointer, len: number) => ArrayBuffer;
}

let libcCache: Libc | undefined;

function libc(): Libc {
  if (libcCache) return libcCache;
  if (process.platform !== 'linux') throw new SyscallError('load libc', 'ENOSYS', 38, `the kernel backend needs Linux (this is ${process.platform})`);
  const k = koffi();
  const lib = k.load('libc.so.6');
  libcCache = {
    syscall4: lib.func('syscall', 'long', ['long', 'int', 'void *', 'uint']),
    syscall6perf: lib.func('syscall', 'long', ['long', 'void *', 'int', 'int', 'int', 'ulong']),
    ioctl: lib.func('ioctl', 'int', ['int', 'ulong', 'ulong']),
    mmap: lib.func('mmap', 'void *', ['void *', 'size_t', 'int', 'int', 'int', 'int64']),
    munmap: lib.func('munmap', 'int', ['void *', 'size_t']),
    close: lib.func('close', 'int', ['int']),
    epollCreate1: lib.func('epoll_create1', 'int', ['int']),
    epollCtl: lib.func('epoll_ctl', 'int', ['int', 'int', 'int', 'void *']),
    epollWait: lib.func('epoll_wait', 'int', ['int', 'void *', 'int', 'int']) as Libc['epollWait'],
    eventfd: lib.func('eventfd', 'int', ['uint', 'int']),
    write: lib.func('write', 'long', ['int', 'void *', 'size_t']),
    read: lib.func('read', 'long', ['int', 'void *', 'size_t']),
    setsockopt: lib.func('setsockopt', 'int', ['int', 'int', 'int', 'void *', 'uint']),
    socket: lib.func('socket', 'int', ['int', 'int', 'int']),
    ifNametoindex: lib.func('if_nametoindex', 'uint', ['str']),
    ifIndextoname: lib.func('if_indextoname', 'void *', ['uint', 'void *']),
    mount: lib.func('mount', 'int', ['str', 'str', 'str', 'ulong', 'void *']),
    open: lib.func('open', 'int', ['str', 'int', 'uint']),
    setns: lib.func('setns', 'int', ['int', 'int']),
    schedSetaffinity: lib.func('sched_setaffinity', 'int', ['int', 'size_t', 'void *']),
    schedGetaffinity: lib.func('sched_getaffinity', 'int', ['int', 'size_t', 'void *']),
    bind: lib.func('bind', 'int', ['int', 'void *', 'uint']),
    errno: () => k.errno(),
    address: (p) => k.address(p),
    view: (p, len) => k.view(p, len),
  };
  return libcCache;
}

function syscallNumbers(): { bpf: number; perfEventOpen: number } {
  const numbers = SYSCALL_NUMBERS[process.arch];
  if (!numbers) throw new SyscallError('syscall', 'ENOSYS', 38, `no bpf() syscall number known for architecture ${process.arch}`);
  return numbers;
}

/** Node's table plus ENOTSUPP (524), which the kernel returns from bpf() but user space headers do not define; built on first use, like koffi. */
let errnoNames: Map<number, string> | undefined;

/** `EPERM` for 1, ... (`errno N` when the number is unknown). */
export function errnoName(errno: number): string {
  errnoNames ??= new Map<number, string>([...Object.entries(osConstants.errno).map(([name, value]) => [value, name] as [number, string]), [524, 'ENOTSUPP']]);
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

export const errnoValue = (name: keyof typeof osConstants.errno): number => osConstants.errno[name];

/** Result of a raw call: the return value when >= 0, otherwise the errno. */
export interface RawResult {
  ret: number;
  errno: number;
}

/** bpf(cmd, attr, size); `attr` is transient memory the kernel reads (and may write) during the call. */
export function sysBpf(cmd: number, attr: Uint8Array, size: number): RawResult {
  const c = libc();
  const ret = c.syscall4(syscallNumbers().bpf, cmd, attr, size);
  return { ret, errno: ret < 0 ? c.errno() : 0 };
}

/** perf_event_open(attr, pid, cpu, group_fd, flags). */
export function sysPerfEventOpen(attr: Uint8Array, pid: number, cpu: number, groupFd: number, flags: number): RawResult {
  const c = libc();
  const ret = c.syscall6perf(syscallNumbers().perfEventOpen, attr, pid, cpu, groupFd, flags);
  return { ret, errno: ret < 0 ? c.errno() : 0 };
}

function check(what: string, ret: number, detail?: string): number {
  if (ret >= 0) return ret;
  const errno = libc().errno();
  throw new SyscallError(what, errnoName(errno), errno, detail);
}

export function sysIoctl(fd: number, request: number, arg: number): number {
  return check(`ioctl(${fd}, 0x${request.toString(16)})`, libc().ioctl(fd, request, arg));
}

export function sysClose(fd: number): void {
  libc().close(fd);
}

export function sysEpollCreate(): number {
  return check('epoll_create1', libc().epollCreate1(0o2000000 /* EPOLL_CLOEXEC */));
}

const EPOLL_CTL_ADD = 1;
const EPOLLIN = 1;

/** Size of struct epoll_event: packed (12 bytes) on x86-64, naturally aligned (16) elsewhere. */
export const EPOLL_EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
const EPOLL_DATA_OFFSET = process.arch === 'x64' ? 4 : 8;

/** Registers `fd` for readability, tagging its events with `tag` (what sysEpollWaitAsync returns). */
export function sysEpollAdd(epfd: number, fd: number, tag: number): void {
  const event = new Uint8Array(EPOLL_EVENT_SIZE);
  const view = new DataView(event.buffer);
  view.setUint32(0, EPOLLIN, true);
  view.setUint32(EPOLL_DATA_OFFSET, tag, true);
  check('epoll_ctl(EPOLL_CTL_ADD)', libc().epollCtl(epfd, EPOLL_CTL_ADD, fd, event));
}

/**
 * epoll_wait on a koffi worker thread so Node's event loop keeps running.
 * Resolves with the tags of the ready fds.
 */
export function sysEpollWaitAsync(epfd: number, events: NativeBuffer, timeoutMs: number): Promise<number[]> {
  const max = Math.floor(events.length / EPOLL_EVENT_SIZE);
  return new Promise((resolve, reject) => {
    libc().epollWait.async(epfd, events.pointer, max, timeoutMs, (err, n) => {
      if (err) return reject(err instanceof Error ? err : new Error(String(err)));
      if (n < 0) {
        const errno = libc().errno();
        if (errno === errnoValue('EINTR')) return resolve([]);
        return reject(new SyscallError('epoll_wait', errnoName(errno), errno));
      }
      const tags: number[] = [];
      for (let i = 0; i < n; i++) tags.push(events.view.getUint32(i * EPOLL_EVENT_SIZE + EPOLL_DATA_OFFSET, true));
      resolve(tags);
    });
  });
}

/** An eventfd (non-blocking, close-on-exec), used to wake an epoll_wait. */
export function sysEventfd(): number {
  return check('eventfd', libc().eventfd(0, 0o2000000 | 0o4000));
}

export function sysEventfdSignal(fd: number): void {
  const one = new Uint8Array(8);
  one[0] = 1;
  libc().write(fd, one, 8);
}

export function sysSetsockopt(fd: number, level: number, name: number, value: Uint8Array, what: string): void {
  check(what, libc().setsockopt(fd, level, name, value, value.length));
}

export function sysSocket(domain: number, type: number, protocol: number): number {
  return check('socket', libc().socket(domain, type, protocol));
}

/** Reads into `buf`; returns the byte count, or -1 with EAGAIN. */
export function sysRead(fd: number, buf: Uint8Array): number {
  const n = libc().read(fd, buf, buf.length);
  if (n < 0) {
    const errno = libc().errno();
    if (errno === errnoValue('EAGAIN')) return -1;
    throw new SyscallError(`read(${fd})`, errnoName(errno), errno);
  }
  return n;
}

/** write(fd, buf) of the whole buffer in one call (a datagram, a frame); returns the byte count. */
export function sysWrite(fd: number, buf: Uint8Array, what: string): number {
  return check(what, libc().write(fd, buf, buf.length));
}

/** Interface index of `name`, or 0 when there is no such interface. */
export function sysIfNameToIndex(name: string): number {
  return libc().ifNametoindex(name);
}

/** Name of interface `index` in this thread's network namespace, or undefined. */
export function sysIfIndexToName(index: number): string | undefined {
  const name = new Uint8Array(16); // IF_NAMESIZE
  if (libc().ifIndextoname(index, name) === null) return undefined;
  return new TextDecoder().decode(name.subarray(0, name.indexOf(0)));
}

export function sysMount(source: string, target: string, type: string): void {
  check(`mount -t ${type} ${source} ${target}`, libc().mount(source, target, type, 0, null));
}

/** setns(fd, nstype) for the calling thread (Node's main thread). */
export function sysSetns(fd: number, nstype: number, what: string): void {
  check(`setns(${what})`, libc().setns(fd, nstype));
}

/** The calling thread's CPU affinity mask (cpu_set_t bytes). */
export function sysGetAffinity(): Uint8Array {
  const mask = new Uint8Array(128);
  check('sched_getaffinity', libc().schedGetaffinity(0, mask.length, mask));
  return mask;
}

/** Sets the calling thread's CPU affinity mask (as returned by sysGetAffinity, or built with one bit per CPU). */
export function sysSetAffinity(mask: Uint8Array): void {
  check('sched_setaffinity', libc().schedSetaffinity(0, mask.length, mask));
}

/** bind(fd, sockaddr). */
export function sysBind(fd: number, address: Uint8Array, what: string): void {
  check(`bind(${what})`, libc().bind(fd, address, address.length));
}

export function sysOpen(path: string, flags: number): number {
  return check(`open(${path})`, libc().open(path, flags | 0o2000000, 0));
}

export const PROT_READ = 1;
export const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MAP_PRIVATE = 2;
const MAP_ANONYMOUS = 0x20;
const MAP_FAILED = -1n & 0xffffffffffffffffn;

/**
 * A mapping of native memory with a fixed address, viewed from JavaScript
 * without copying. Unmapped explicitly with `free()` (idempotent).
 */
export class NativeBuffer {
  readonly pointer: NativePointer;
  readonly address: bigint;
  readonly length: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  #mapped = true;

  private constructor(pointer: NativePointer, length: number) {
    this.pointer = pointer;
    this.address = libc().address(pointer);
    this.length = length;
    const buffer = libc().view(pointer, length);
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
  }

  /** Zero-filled anonymous memory of at least `length` bytes. */
  static allocate(length: number): NativeBuffer {
    const size = Math.max(length, 1);
    return NativeBuffer.#map(size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, 'mmap(anonymous)');
  }

  /** mmap(fd, offset) shared, with the given protection. */
  static mapFile(fd: number, length: number, prot: number, offset: number, what: string): NativeBuffer {
    return NativeBuffer.#map(length, prot, MAP_SHARED, fd, offset, what);
  }

  static #map(length: number, prot: number, flags: number, fd: number, offset: number, what: string): NativeBuffer {
    const c = libc();
    const pointer = c.mmap(null, length, prot, flags, fd, offset);
    if (pointer === null || c.address(pointer) === MAP_FAILED) {
      const errno = c.errno();
      throw new SyscallError(what, errnoName(errno), errno);
    }
    return new NativeBuffer(pointer, length);
  }

  get mapped(): boolean {
    return this.#mapped;
  }

  free(): void {
    if (!this.#mapped) return;
    this.#mapped = false;
    libc().munmap(this.pointer, this.length);
  }
}

let pageSizeCache: number | undefined;

/** The system page size, from sysconf(_SC_PAGESIZE). */
export function pageSize(): number {
  if (pageSizeCache === undefined) {
    const sysconf = koffi().load('libc.so.6').func('sysconf', 'long', ['int']);
    const SC_PAGESIZE = 30;
    pageSizeCache = Number(sysconf(SC_PAGESIZE));
  }
  return pageSizeCache;
}
