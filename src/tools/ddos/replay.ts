/**
 * xdp_guard on the VM over recorded traffic: the program's clock
 * (bpf_ktime_get_ns) is each packet's capture timestamp, so rate limits
 * act on the capture's timeline, exactly and reproducibly.
 */
import type { CollectionSpec } from '../../object/index.ts';
import { loadVmCollection, type VmCollection } from '../../vm/index.ts';
import { XdpAction } from '../../uapi/index.ts';

const ETH_HLEN = 14;
/** What VmGuard.run returns for a frame too short to be given to XDP. */
export const RUNT = -1;

export interface VmGuard {
  collection: VmCollection;
  /** Runs the guard on one frame at time `timestamp` (ns); returns the XDP action, or RUNT for a frame shorter than an Ethernet header (no NIC delivers one to XDP). */
  run(data: Uint8Array, timestamp: bigint): number;
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
    close: () => collection.close(),
  };
}

/** XDP_PASS or XDP_DROP as a word. */
export function verdictName(action: number): string {
  if (action === RUNT) return 'runt';
  return action === XdpAction.PASS ? 'pass' : action === XdpAction.DROP ? 'drop' : `action ${action}`;
}
