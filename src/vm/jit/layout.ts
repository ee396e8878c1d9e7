/**
 * The control block: a small area of VM memory (allocated, never mapped as
 * a region, so programs cannot reach it) through which compiled code and
 * its JS driver exchange values without BigInt. One per VmMemory, shared by
 * every compiled program of that memory (a tail call runs another module
 * against the same budget and stack). Offsets are from its start.
 */
export const CB = {
  /** r1..r5 of a helper/kfunc/callx call, 8 bytes each. */
  args: 0,
  /** r0: a helper's result, the program's result. */
  r0: 40,
  /** Remaining instruction budget (i64), decremented per basic block. */
  budget: 48,
  /** Legacy packet access (LD_ABS/LD_IND): start, and length or -1 when the run has no packet. */
  packetStart: 60,
  packetLength: 64,
  /** Entries in the region table. */
  regionCount: 68,
  /** Address of the region table (16-byte entries: start, end, writable, unused). */
  regionTable: 72,
  /** Bumped by the driver whenever the region table changes, so compiled code drops its cached regions. */
  epoch: 76,
  /** End of the stack frames; a frame with pointer fp and size n reaches [fp - n, stackTop). */
  stackTop: 80,
  /** Frame pointer of the frame making a helper call (a tail call reuses that frame). */
  framePointer: 84,
  /** r6..r9 at a helper call (checked mode), which a tail-called program starts with, as in the interpreter. */
  calleeSaved: 88,
  /**
   * The call chain so far, a callback's callers included: its frames << 16 |
   * their stack bytes (see CallDepthError, StackLimitError), so that a call
   * checks and updates both with one load and one store.
   */
  chain: 120,
  size: 128,
} as const;

/** One frame in CB.chain. */
export const CHAIN_FRAME = 0x10000;

export const REGION_ENTRY_SIZE = 16;

/** Status codes of helper imports and of the entry function. */
export const Status = {
  ok: 0,
  /** A tail call replaced the calling frame and has finished; its r0 is in CB.r0. */
  replaced: 1,
  /** The program ended (exitProgram); r0 is in CB.r0. */
  exited: 2,
} as const;
