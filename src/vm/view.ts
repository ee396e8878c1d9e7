import { type Instruction, isLddw } from '../isa/instruction.ts';
import { VmMap, innerMapsVersion, vmMapByHandle } from '../maps/index.ts';
import type { Region, RegionView, VmMemory } from './memory.ts';

/**
 * What one loaded program may reach, as the kernel's verifier allows it: its
 * run's stack, context and packet (regions without an owner, mapped by the
 * run in progress or by none: VmMemory.enterRun), and the maps it
 * uses: those whose handle an ld_imm64 loads (a map reference, relocated to
 * the map's handle) or into whose storage one points (global data, relocated
 * to an address in the map's value), and the inner maps such a map of maps
 * holds. Another map's storage, reached by an address computed from one's
 * own value, and a forged map handle handed to a helper are refused.
 *
 * Both engines check accesses that leave their cached region against the
 * view (the interpreter on its slow path, the JIT through a region table
 * written for the running program), and the map helpers check their map
 * arguments with `reachesMap`.
 */
export class ProgramView implements RegionView {
  /** The maps the instructions reference. */
  readonly maps: ReadonlySet<VmMap>;
  /** Inner maps found in one of `maps` (a map of maps), while no map of maps changed (innerMapsVersion). */
  private innerMaps = new WeakSet<object>();
  private innerVersion = innerMapsVersion();

  constructor(
    private readonly memory: VmMemory,
    instructions: readonly Instruction[],
  ) {
    const maps = new Set<VmMap>();
    for (let pc = 0; pc + 1 < instructions.length; pc++) {
      const first = instructions[pc]!;
      if (!isLddw(first)) continue;
      const high = instructions[pc + 1]!.imm;
      pc++;
      if (high !== 0) continue;
      const value = first.imm >>> 0;
      const map = vmMapByHandle(memory, value) ?? ownerMap(memory.regionAt(value, 1));
      if (map !== undefined) maps.add(map);
    }
    this.maps = maps;
  }

  get version(): number {
    return innerMapsVersion();
  }

  reaches(region: Region): boolean {
    const owner = region.owner;
    if (owner === undefined) return this.memory.inRunScope(region);
    return owner instanceof VmMap && this.reachesMap(owner);
  }

  /** Whether the program uses `map`: it references it, or a map of maps it references holds it. */
  reachesMap(map: VmMap): boolean {
    if (this.maps.has(map)) return true;
    // An inner map removed from its map of maps is out of reach again, even through a handle the program kept.
    const version = innerMapsVersion();
    if (version !== this.innerVersion) {
      this.innerMaps = new WeakSet<object>();
      this.innerVersion = version;
    }
    if (this.innerMaps.has(map)) return true;
    for (const outer of this.maps) {
      if (outer.holdsInnerMap(map)) {
        this.innerMaps.add(map);
        return true;
      }
    }
    return false;
  }
}

function ownerMap(region: Region | undefined): VmMap | undefined {
  const owner = region?.owner;
  return owner instanceof VmMap ? owner : undefined;
}
