/**
 * xdp_guard on the VM over recorded traffic: the program's clock
 * (bpf_ktime_get_ns) is each packet's capture timestamp, so rate limits
 * act on the capture's timeline, exactly and reproducibly.
 */
import type { CollectionSpec } from '../../object/index.ts';
import type { ByteSource } from '../../net/index.ts';
import { loadVmCollection, type VmCaptureBatch, type VmCollection } from '../../vm/index.ts';
import { XdpAction } from '../../uapi/index.ts';

const ETH_HLEN = 14;
/** What VmGuard.run returns for a frame too short to be given to XDP. */
export const RUNT = -1;

export interface VmGuard {
  collection: VmCollection;
  /** Runs the guard on one frame at time `timestamp` (ns); returns the XDP action, or RUNT for a frame shorter than an Ethernet header (no NIC delivers one to XDP). */
  run(data: Uint8Array, timestamp: bigint): number;
  /**
   * Runs the guard over a capture through the VM's streaming path, each
   * packet at its capture timestamp: the verdicts `run` would give, in
   * batches (each valid until the next is asked for). A runt is in the
   * batch's `errors`, as is a frame too long for an XDP frame.
   */
  runCapture(source: ByteSource): AsyncGenerator<VmCaptureBatch, void, undefined>;
  close(): void;
}

export function loadGuardOnVm(spec: CollectionSpec, options: { jit?: boolean } = {}): VmGuard {
  let now = 0n;
  const collection = loadVmCollection(spec, { jit: options.jit, clock: () => now });
  const program = collection.program('xdp_guard');
  return {
    collection,
    run(data, timestamp) {
      if (data.length < ETH_HLEN) return RUNT;
      now = timestamp;
      return program.run({ data }).retval;
    },
    runCapture: (source) => program.runCapture(source, { captureClock: true }),
    close: () => collection.close(),
  };
}

/**
 * Packet `n`'s verdict in a batch of VmGuard.runCapture: its XDP action,
 * or RUNT; the error of a packet no XDP program can be given (too long for
 * a frame) is thrown.
 */
export function batchVerdict(batch: VmCaptureBatch, n: number): number {
  const error = batch.errors.get(n);
  if (error === undefined) return batch.retvals[n]!;
  if (batch.packets.length[n]! < ETH_HLEN) return RUNT;
  throw error;
}

/** XDP_PASS or XDP_DROP as a word. */
export function verdictName(action: number): string {
  if (action === RUNT) return 'runt';
  return action === XdpAction.PASS ? 'pass' : action === XdpAction.DROP ? 'drop' : `action ${action}`;
}
