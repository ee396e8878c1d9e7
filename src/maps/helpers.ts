import type { HelperCall, HelperRegistry } from '../vm/helper-registry.ts';
import type { LoadedProgram } from '../vm/program.ts';
import { helperId as id } from '../uapi/helpers.ts';
import { ReferenceArrayMap } from './array.ts';
import { vmMapByHandle, type VmMap } from './base.ts';
import { negErrno } from './errors.ts';
import { PerfEventArrayMap } from './perf.ts';
import { RingBufMap, RingBufferRecordError, ringBufferContaining } from './ringbuf.ts';

export interface MapHelperOptions {
  /** The virtual CPU a call runs on (per-CPU values, BPF_F_CURRENT_CPU); default 0. */
  cpuOf?: (call: HelperCall) => number;
}

/**
 * The map an argument register points to (a map handle) among the maps the
 * calling program uses, or undefined: another map's handle is refused as a
 * forged one (the verifier would not let it reach the helper).
 */
export function mapArg(call: HelperCall, n: 1 | 2): VmMap | undefined {
  const map = vmMapByHandle(call.memory, call.argU32(n));
  return map !== undefined && call.program.view.reachesMap(map) ? map : undefined;
}

/**
 * Registers the map helpers over VM maps: map pointers in registers are
 * map handles (`VmMap.handle`, what a loader puts in ld_imm64 of a map),
 * keys and values are checked pointers into VM memory. A register that is
 * not a map handle makes the helper return -EINVAL (the verifier would have
 * rejected the program).
 */
export function registerMapHelpers(registry: HelperRegistry, options: MapHelperOptions = {}): HelperRegistry {
  const cpuOf = options.cpuOf ?? (() => 0);
  const EINVAL = negErrno('EINVAL');
  registry.register(id('map_lookup_elem'), (call) => {
    const map = mapArg(call, 1);
    return map ? map.lookupElem(call.pointer(2, map.keySize, false), cpuOf(call)) : 0;
  });
  registry.register(id('map_update_elem'), (call) => {
    const map = mapArg(call, 1);
    if (!map) return EINVAL;
    return map.updateElem(call.pointer(2, map.keySize, false), call.pointer(3, map.valueSize, false), call.argU32(4), cpuOf(call));
  });
  registry.register(id('map_delete_elem'), (call) => {
    const map = mapArg(call, 1);
    return map ? map.deleteElem(call.pointer(2, map.keySize, false)) : EINVAL;
  });
  registry.register(id('map_push_elem'), (call) => {
    const map = mapArg(call, 1);
    return map ? map.pushElem(call.pointer(2, map.valueSize, false), call.argU32(3)) : EINVAL;
  });
  registry.register(id('map_pop_elem'), (call) => {
    const map = mapArg(call, 1);
    return map ? map.popElem(call.pointer(2, map.valueSize, true)) : EINVAL;
  });
  registry.register(id('map_peek_elem'), (call) => {
    const map = mapArg(call, 1);
    return map ? map.peekElem(call.pointer(2, map.valueSize, true)) : EINVAL;
  });
  registry.register(id('map_lookup_percpu_elem'), (call) => {
    const map = mapArg(call, 1);
    return map ? map.lookupPercpuElem(call.pointer(2, map.keySize, false), call.argU32(3)) : 0;
  });
  registry.register(id('ringbuf_output'), (call) => {
    const map = mapArg(call, 1);
    if (!(map instanceof RingBufMap)) return EINVAL;
    const size = call.arg(3);
    return map.output(call.bytes(2, size, false).slice(), Number(call.argU64(4) & 0xffffffffn));
  });
  registry.register(id('ringbuf_reserve'), (call) => {
    const map = mapArg(call, 1);
    if (!(map instanceof RingBufMap)) return 0;
    return map.reserve(call.arg(2), call.argU64(3) === 0n ? 0 : 1);
  });
  const commit = (discard: boolean) => (call: HelperCall) => {
    const address = call.argU32(1);
    const ring = ringBufferContaining(call.memory, address);
    if (ring === undefined) throw new RingBufferRecordError(`bpf_ringbuf_${discard ? 'discard' : 'submit'}: 0x${address.toString(16)} is not in any ring buffer`);
    ring.commit(address, discard);
  };
  registry.register(id('ringbuf_submit'), commit(false));
  registry.register(id('ringbuf_discard'), commit(true));
  registry.register(id('ringbuf_query'), (call) => {
    const map = mapArg(call, 1);
    return map instanceof RingBufMap ? map.query(call.argU32(2)) : 0;
  });
  registry.register(id('perf_event_output'), (call) => {
    const map = mapArg(call, 2);
    if (!(map instanceof PerfEventArrayMap)) return EINVAL;
    const size = call.arg(5);
    return map.output(cpuOf(call), call.argU64(3), call.bytes(4, size, false).slice());
  });
  registry.register(id('tail_call'), (call) => {
    const map = mapArg(call, 2);
    if (!(map instanceof ReferenceArrayMap) || map.kind !== 'program') return;
    const target = map.at(call.argU32(3)) as LoadedProgram | undefined;
    if (target !== undefined) call.tailCall(target);
  });
  return registry;
}
