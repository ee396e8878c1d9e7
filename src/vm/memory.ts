import { TsbpfError } from '../errors.ts';

/**
 * What a region of VM memory holds. The kind decides nothing by itself; it
 * names the region in errors and lets the verifier and JIT reason about it.
 */
export type RegionKind = 'stack' | 'context' | 'packet' | 'map' | 'rodata' | 'data' | 'input' | 'scratch';

export interface Region {
  readonly start: number;
  readonly size: number;
  readonly kind: RegionKind;
  readonly writable: boolean;
  /** Shown in errors: "map 'counts'", "packet", ... */
  readonly name: string;
  /** The map whose storage this is: only programs that use that map reach it (see RegionView). */
  readonly owner?: object;
}

/**
 * Which regions a program may reach (its ProgramView): every region without
 * an owner (stacks, contexts, packets, input memory) and the storage of the
 * maps the program uses.
 */
export interface RegionView {
  reaches(region: Region): boolean;
  /** Changes when what the view reaches changes without the regions changing (an inner map added or removed). */
  readonly version?: number;
}

/** An access outside every region, or a write to a read-only one. */
export class MemoryAccessError extends TsbpfError {
  override name = 'MemoryAccessError';
  constructor(
    readonly address: bigint,
    readonly size: number,
    readonly write: boolean,
    readonly pc: number,
    readonly region: Region | undefined,
    /** The region exists but belongs to a map the program does not use, or to another run. */
    readonly unreachable = false,
  ) {
    const what = `${write ? 'write' : 'read'} of ${size} byte${size === 1 ? '' : 's'} at 0x${address.toString(16)}`;
    const where = !region
      ? 'outside every memory region'
      : unreachable
        ? `${region.name} (0x${region.start.toString(16)}+${region.size}) ${region.owner === undefined ? 'belongs to another run (one this run was started inside)' : 'is not a map this program uses'}`
        : `${region.name} is read-only (0x${region.start.toString(16)}+${region.size})`;
    super(`instruction ${pc}: invalid ${what}: ${where}`);
  }
}

/** Where a faulting stack access was: the frame the running function has, as StackAccessError names it. */
export interface StackFrameInfo {
  /** Frame index in the call chain (0: the entry of the outermost run; a callback's frames follow its caller's). */
  readonly frame: number;
  /** The program whose function runs in that frame. */
  readonly program: string;
  /** The frame's r10. */
  readonly top: number;
  /** The frame's size: it reaches [r10 - bytes, r10). */
  readonly bytes: number;
  /** Stack bytes of the chain's frames down to this one. */
  readonly chainBytes: number;
}

/**
 * An access to a run's stack outside its frames: below the running
 * function's frame (each frame reaches exactly its own size, the frames of
 * a call chain 512 bytes together) or above the first one.
 */
export class StackAccessError extends MemoryAccessError {
  override name = 'StackAccessError';
  /** The access's offset from the frame's r10. */
  readonly offset: number;
  constructor(
    address: bigint,
    size: number,
    write: boolean,
    pc: number,
    readonly frame: StackFrameInfo,
  ) {
    super(address, size, write, pc, undefined);
    this.offset = Number(address) - frame.top;
    const at = this.offset < 0 ? `r10${this.offset}` : `r10+${this.offset}`;
    this.message = `instruction ${pc}: invalid ${write ? 'write' : 'read'} of ${size} byte${size === 1 ? '' : 's'} at ${at} in frame ${frame.frame} ('${frame.program}'): ` +
      `the frame is ${frame.bytes} bytes (r10-${frame.bytes}..r10), the call chain's frames ${frame.chainBytes} of ${512} bytes`;
  }
}

export class OutOfMemoryError extends TsbpfError {
  override name = 'OutOfMemoryError';
}

const PAGE = 65536;
/** Addresses below this are never mapped, so NULL and small integers used as pointers fault. */
export const NULL_GUARD = PAGE;
const ALIGN = 16;
/** memory32 limit minus a page so that `start + size` always fits in a u32. */
const MAX_PAGES = 65535;

/** The identity of a run (VmMemory.enterRun), with the number of its regions still mapped. */
interface RunScope {
  mapped: number;
}

interface FreeBlock {
  start: number;
  size: number;
}

/**
 * The VM's single linear address space. Every object a program can point at
 * (stack, context, packet, map storage, global data) lives here, at an
 * address that is a plain offset into one `WebAssembly.Memory`, so the
 * interpreter, the helpers and JIT-compiled WebAssembly share the same
 * bytes with no copying. A BPF pointer value is such an offset.
 *
 * The interpreter checks each access against the registered regions; the
 * region list is kept sorted by start so a lookup is a binary search,
 * preceded by a one-entry cache that hits for almost every access.
 */
export class VmMemory {
  readonly wasm: WebAssembly.Memory;
  /** Views over the current buffer; replaced when the memory grows. */
  u8!: Uint8Array;
  view!: DataView;
  /** Incremented each time the buffer is replaced, so cached views can be refreshed. */
  generation = 0;

  /** Incremented whenever a region is mapped, unmapped or moved: an unchanged version means an unchanged region list. */
  layoutVersion = 0;
  /** The region whose move made the current layoutVersion (undefined when the last change was a map or an unmap). */
  lastMoved: Region | undefined;
  /** The region whose mapping made the current layoutVersion (undefined when the last change was an unmap or a move). */
  lastMapped: Region | undefined;
  private movedIndex = 0;

  private readonly regions: Region[] = [];
  private readonly free: FreeBlock[] = [];
  private top = NULL_GUARD;
  /** Bytes at and above this address were never handed out: still the zeros the memory grew with. */
  private untouched = NULL_GUARD;
  private cached: Region | undefined;
  /** The run in progress (see enterRun): the regions mapped during it belong to it. */
  private scope: RunScope | undefined;
  /** A scope whose run ended with none of its regions mapped, for the next run (see leaveRun). */
  private spareScope: RunScope | undefined;
  /** The run each region mapped during a run belongs to, while it is mapped (a Map: cheaper than a WeakMap to update on every run). */
  private readonly regionScopes = new Map<Region, RunScope>();

  constructor(initialBytes = 1 << 20) {
    this.wasm = new WebAssembly.Memory({ initial: Math.max(2, Math.ceil(initialBytes / PAGE)), maximum: MAX_PAGES });
    this.refreshViews();
  }

  private refreshViews(): void {
    this.u8 = new Uint8Array(this.wasm.buffer);
    this.view = new DataView(this.wasm.buffer);
    this.generation++;
  }

  get byteLength(): number {
    return this.wasm.buffer.byteLength;
  }

  /** Reserves `size` zeroed bytes (16-byte aligned). Does not make them accessible: see `map`. */
  allocate(size: number): number {
    const need = Math.max(ALIGN, Math.ceil(size / ALIGN) * ALIGN);
    const fit = this.free.findIndex((b) => b.size >= need);
    let start: number;
    if (fit >= 0) {
      const block = this.free[fit]!;
      start = block.start;
      if (block.size === need) this.free.splice(fit, 1);
      else {
        block.start += need;
        block.size -= need;
      }
    } else {
      start = this.top;
      this.ensure(start + need);
      this.top += need;
    }
    // Memory never handed out is still zero: filling it would only fault in pages (megabytes for a capture's read area).
    const end = start + need;
    if (start < this.untouched) this.u8.fill(0, start, Math.min(end, this.untouched));
    if (end > this.untouched) this.untouched = end;
    return start;
  }

  /** Returns an allocation to the free list, coalescing neighbours. */
  release(start: number, size: number): void {
    const sz = Math.max(ALIGN, Math.ceil(size / ALIGN) * ALIGN);
    let i = this.free.findIndex((b) => b.start > start);
    if (i < 0) i = this.free.length;
    this.free.splice(i, 0, { start, size: sz });
    const next = this.free[i + 1];
    if (next && start + sz === next.start) {
      this.free[i]!.size += next.size;
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev && prev.start + prev.size === start) {
      prev.size += this.free[i]!.size;
      this.free.splice(i, 1);
    }
    const last = this.free[this.free.length - 1];
    if (last && last.start + last.size === this.top) {
      this.top = last.start;
      this.free.pop();
    }
  }

  private ensure(end: number): void {
    const have = this.wasm.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / PAGE);
    if (have / PAGE + pages > MAX_PAGES) {
      throw new OutOfMemoryError(`VM memory exhausted: need ${end} bytes, the 32-bit address space holds ${MAX_PAGES * PAGE}`);
    }
    this.wasm.grow(Math.max(pages, Math.ceil(have / PAGE / 4)));
    this.refreshViews();
  }

  /**
   * Starts a run whose stack, context and packet no other run may reach: a
   * run started inside it (from a helper, a trace callback) gets a scope of
   * its own and cannot reach this one's regions, as each kernel run has its
   * own frame. Regions mapped outside any run belong to every run. Returns
   * the outer scope, for leaveRun.
   */
  enterRun(): object | undefined {
    const outer = this.scope;
    this.scope = this.spareScope ?? { mapped: 0 };
    this.spareScope = undefined;
    return outer;
  }

  /**
   * Ends the run in progress. A run that left none of its regions mapped
   * hands its scope to the next run: no region can belong to it any more,
   * so it is as good as a new one, and caches keyed by the scope (the JIT's
   * region table) stay valid from one run to the next.
   */
  leaveRun(outer: object | undefined): void {
    const ended = this.scope;
    if (ended !== undefined && ended.mapped === 0) this.spareScope = ended;
    this.scope = outer as RunScope | undefined;
  }

  /** The run in progress (an identity for caches of what programs reach), or undefined. */
  get runScope(): object | undefined {
    return this.scope;
  }

  /** Whether `region` (one without an owner) belongs to the run in progress or to none. */
  inRunScope(region: Region): boolean {
    const scope = this.regionScopes.get(region);
    return scope === undefined || scope === this.scope;
  }

  /** Makes [start, start+size) accessible to programs. Regions never overlap. */
  map(region: Region): Region {
    if (region.start < NULL_GUARD || region.start + region.size > this.u8.length) {
      throw new RangeError(`region ${region.name} at 0x${region.start.toString(16)}+${region.size} is outside allocated memory`);
    }
    let i = this.regions.length;
    while (i > 0 && this.regions[i - 1]!.start > region.start) i--;
    const before = this.regions[i - 1];
    const after = this.regions[i];
    if ((before && before.start + before.size > region.start) || (after && region.start + region.size > after.start)) {
      throw new RangeError(`region ${region.name} overlaps ${(before && before.start + before.size > region.start ? before : after)!.name}`);
    }
    // By hand: splice allocates an array of the removed elements on every call, and maps happen on every run.
    const regions = this.regions;
    regions.push(region);
    for (let k = regions.length - 1; k > i; k--) regions[k] = regions[k - 1]!;
    regions[i] = region;
    if (this.scope !== undefined) {
      this.regionScopes.set(region, this.scope);
      this.scope.mapped++;
    } else this.regionScopes.delete(region);
    this.layoutVersion++;
    this.lastMoved = undefined;
    this.lastMapped = region;
    return region;
  }

  /**
   * Moves a mapped region to [start, start+size) in place (the same object,
   * so caches keyed by it stay valid), for a region whose bounds change from
   * run to run such as a packet's. It may not cross its neighbours.
   */
  moveRegion(region: Region, start: number, size: number): void {
    if (region.start === start && region.size === size) return;
    const i = this.regions[this.movedIndex] === region ? this.movedIndex : this.regions.indexOf(region);
    if (i < 0) throw new RangeError(`region ${region.name} is not mapped`);
    // Indexes checked first: reading an array out of bounds (regions[-1]) takes V8's slow path.
    const before = i > 0 ? this.regions[i - 1] : undefined;
    const after = i + 1 < this.regions.length ? this.regions[i + 1] : undefined;
    if (start < NULL_GUARD || start + size > this.u8.length || (before && before.start + before.size > start) || (after && start + size > after.start)) {
      throw new RangeError(`region ${region.name} cannot move to 0x${start.toString(16)}+${size}`);
    }
    const mutable = region as { start: number; size: number };
    mutable.start = start;
    mutable.size = size;
    this.layoutVersion++;
    this.lastMoved = region;
    this.lastMapped = undefined;
    this.movedIndex = i;
  }

  /** Allocates and maps in one step. */
  allocateRegion(size: number, kind: RegionKind, name: string, writable = true): Region {
    return this.map({ start: this.allocate(size), size, kind, writable, name });
  }

  unmap(region: Region): void {
    const regions = this.regions;
    const i = regions.indexOf(region);
    if (i >= 0) {
      for (let k = i + 1; k < regions.length; k++) regions[k - 1] = regions[k]!;
      regions.pop();
      const scope = this.regionScopes.get(region);
      if (scope !== undefined) {
        scope.mapped--;
        this.regionScopes.delete(region);
      }
      this.layoutVersion++;
      this.lastMoved = undefined;
      this.lastMapped = undefined;
    }
    if (this.cached === region) this.cached = undefined;
  }

  /** Unmaps and frees a region made by `allocateRegion`. */
  freeRegion(region: Region): void {
    this.unmap(region);
    this.release(region.start, region.size);
  }

  /** The region containing [address, address+size), or undefined. */
  regionAt(address: number, size: number): Region | undefined {
    const c = this.cached;
    if (c !== undefined && address >= c.start && address + size <= c.start + c.size) return c;
    let lo = 0;
    let hi = this.regions.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.regions[mid]!;
      if (address < r.start) hi = mid - 1;
      else if (address >= r.start + r.size) lo = mid + 1;
      else {
        if (address + size > r.start + r.size) return undefined;
        this.cached = r;
        return r;
      }
    }
    return undefined;
  }

  /**
   * Checks a program's access. `hi` is the upper 32 bits of the 64-bit
   * pointer: any non-zero value is outside the address space.
   */
  check(hi: number, address: number, size: number, write: boolean, pc: number, view?: RegionView): void {
    if (hi === 0) {
      const r = this.regionAt(address, size);
      if (r !== undefined && view !== undefined && !view.reaches(r)) throw new MemoryAccessError(BigInt(address), size, write, pc, r, true);
      if (r !== undefined && (r.writable || !write)) return;
      if (r !== undefined) throw new MemoryAccessError(BigInt(address), size, write, pc, r);
    }
    const full = (BigInt(hi >>> 0) << 32n) | BigInt(address >>> 0);
    throw new MemoryAccessError(full, size, write, pc, undefined);
  }

  listRegions(): readonly Region[] {
    return this.regions;
  }
}
