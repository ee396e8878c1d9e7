/**
 * Map helpers of the runtime: src/maps' map helpers (lookup/update/delete,
 * push/pop/peek, ring buffer, perf output, tail calls) on the run's CPU,
 * plus the helpers that need the runtime: bpf_get_stackid (the event's
 * stacks), bpf_redirect_map (the run's redirect decision) and the callback
 * helpers bpf_loop and bpf_for_each_map_elem (kernel/bpf/bpf_iter.c,
 * arraymap.c, hashtab.c).
 */
import { mapArg, registerMapHelpers } from '../../maps/helpers.ts';
import { ArrayMap } from '../../maps/array.ts';
import { HashMap } from '../../maps/hash.ts';
import { StackTraceMap } from '../../maps/stacktrace.ts';
import { MapType } from '../../uapi/enums.ts';
import { StackFlag } from '../../uapi/maps.ts';
import { helperId as id } from '../../uapi/helpers.ts';
import type { HelperCall, HelperRegistry } from '../helper-registry.ts';
import { MAY_GOTO_LOOPS } from '../program.ts';
import { callFunctionPointer } from './callbacks.ts';
import { RunEnvironment } from './environment.ts';
import { EINVAL, EFAULT, E2BIG } from './errno.ts';
import { RedirectMap } from './redirect-map.ts';

/** The virtual CPU of the run (`event.cpu`, default 0). */
export function runCpu(call: HelperCall): number {
  return call.context instanceof RunEnvironment ? (call.context.event.cpu ?? 0) : 0;
}

/** XDP actions bpf_redirect_map may return as its default (flags' low bits). */
const XDP_ACTION_MASK = 3;
const XDP_REDIRECT = 4;
const XDP_ABORTED = 0;
/** BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS, accepted by devmaps only. */
const DEVMAP_FLAGS = (1 << 3) | (1 << 4);

/** Map types bpf_for_each_map_elem iterates (map_ops->map_for_each_callback). */
const FOR_EACH_TYPES = new Set<number>([MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH]);

export function registerRuntimeMapHelpers(registry: HelperRegistry): void {
  registerMapHelpers(registry, { cpuOf: runCpu });

  registry.register(id('get_stackid'), (call) => {
    const map = mapArg(call, 2);
    if (!(map instanceof StackTraceMap)) return EINVAL;
    const flags = call.argU64(3);
    if (flags > 0xffffffffn) return EINVAL;
    const event = call.context instanceof RunEnvironment ? call.context.event : {};
    const stack = Number(flags) & StackFlag.USER_STACK ? event.userStack : event.kernelStack;
    if (stack === undefined) return EFAULT;
    return map.getStackId(stack, Number(flags));
  });

  // bpf_redirect_map (net/core/filter.c, __bpf_xdp_redirect_map): XDP_REDIRECT when the key has a
  // target, else the default action in the flags' low bits; unknown flags are XDP_ABORTED.
  registry.register(id('redirect_map'), (call) => {
    const map = mapArg(call, 1);
    if (!(map instanceof RedirectMap)) return XDP_ABORTED;
    const key = call.argU32(2);
    const flags = call.argU64(3);
    const allowed = BigInt(XDP_ACTION_MASK | (map.type === MapType.CPUMAP ? 0 : DEVMAP_FLAGS));
    if ((flags & ~allowed) !== 0n) return XDP_ABORTED;
    if (map.target(key) === undefined) return Number(flags) & XDP_ACTION_MASK;
    if (call.context instanceof RunEnvironment) call.context.redirect = { helper: 'redirect_map', target: key, flags: Number(flags), map: map.name };
    return XDP_REDIRECT;
  });

  // bpf_loop(nr_loops, callback, ctx, flags): callback(i, ctx) until it returns non-zero.
  registry.register(id('loop'), (call) => {
    const loops = call.argU32(1);
    const callback = call.argU64(2);
    const ctx = call.argU64(3);
    if (call.argU64(4) !== 0n) return EINVAL;
    if (loops > MAY_GOTO_LOOPS) return E2BIG;
    for (let i = 0; i < loops; i++) {
      if (callFunctionPointer(call, callback, [i, ctx, 0, 0, 0]) !== 0n) return i + 1;
    }
    return loops;
  });

  // bpf_for_each_map_elem(map, callback, ctx, flags): callback(map, key, value, ctx) per element
  // until it returns non-zero; returns the number of elements visited.
  registry.register(id('for_each_map_elem'), (call) => {
    const map = mapArg(call, 1);
    const callback = call.argU64(2);
    const ctx = call.argU64(3);
    if (call.argU64(4) !== 0n) return EINVAL;
    if (map === undefined || !FOR_EACH_TYPES.has(map.type)) return EINVAL;
    const cpu = runCpu(call);
    const memory = call.memory;
    // Keys are handed to the callback read-only, as the kernel's PTR_TO_MAP_KEY.
    const keyRegion = memory.allocateRegion(Math.max(map.keySize, 1), 'map', `${map.describe()} for_each key`, false);
    try {
      let visited = 0;
      const visit = (key: Uint8Array): boolean => {
        memory.u8.set(key, keyRegion.start);
        const value = map.lookupElem(keyRegion.start, cpu);
        if (value === 0) return false; // deleted by an earlier callback
        visited++;
        return callFunctionPointer(call, callback, [map.handle, keyRegion.start, value, ctx, 0]) !== 0n;
      };
      if (map instanceof ArrayMap) {
        const key = new Uint8Array(4);
        const view = new DataView(key.buffer);
        for (let i = 0; i < map.maxEntries; i++) {
          view.setUint32(0, i, true);
          if (visit(key)) break;
        }
      } else if (map instanceof HashMap) {
        // The keys present when the iteration starts, in bucket order (the kernel's order);
        // elements deleted by the callback are skipped, elements it adds are not visited.
        for (const key of [...map.keys()]) if (visit(key)) break;
      }
      return visited;
    } finally {
      memory.freeRegion(keyRegion);
    }
  });
}
