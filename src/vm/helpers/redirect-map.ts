/**
 * Redirect maps for the VM: DEVMAP, DEVMAP_HASH and CPUMAP. In the kernel
 * their values are network devices and CPU queues; in user space a value
 * is what user space wrote (an ifindex, a queue size, optionally a program
 * id), and bpf_redirect_map records the decision in the run's environment
 * (`VmRunResult.redirect`) instead of moving the frame, as
 * BPF_PROG_TEST_RUN without live frames does. Entries are kept in VM memory,
 * readable by programs (bpf_map_lookup_elem returns the value, as
 * dev_map_lookup_elem / cpu_map_lookup_elem do) and never writable by them.
 */
import { MapType } from '../../uapi/enums.ts';
import { UpdateFlag } from '../../uapi/maps.ts';
import { VmMap, type VmMapOptions } from '../../maps/base.ts';
import type { Region, VmMemory } from '../memory.ts';

export const REDIRECT_MAP_TYPES: readonly number[] = [MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP];

/** Value sizes the kernel accepts: u32, or the struct with a program fd (bpf_devmap_val / bpf_cpumap_val). */
const VALUE_SIZES = [4, 8];

export class RedirectMap extends VmMap {
  /** Keys in insertion order → slot index (DEVMAP_HASH); arrays use the key as the slot. */
  private readonly hashed: Map<number, number> | undefined;
  private readonly present: Uint8Array;
  private readonly values: number;
  private readonly slotSize: number;
  private valueRegion: Region | undefined;

  constructor(memory: VmMemory, options: VmMapOptions) {
    super(memory, { ...options, flags: options.flags ?? 0 });
    if (!REDIRECT_MAP_TYPES.includes(this.type)) throw this.error('EINVAL', 'create', 'RedirectMap implements DEVMAP, DEVMAP_HASH and CPUMAP');
    if (!VALUE_SIZES.includes(this.valueSize)) throw this.error('EINVAL', 'create', `value size ${this.valueSize} is invalid (4, or 8 with a program fd)`);
    this.slotSize = 8;
    this.values = this.reserveRegionReadOnly(this.maxEntries * this.slotSize);
    this.present = new Uint8Array(this.maxEntries);
    this.hashed = this.type === MapType.DEVMAP_HASH ? new Map() : undefined;
  }

  private reserveRegionReadOnly(bytes: number): number {
    const start = this.reserveMemory(Math.max(bytes, 1), 'values');
    this.valueRegion = this.memory.map({ start, size: Math.max(bytes, 1), kind: 'map', writable: false, name: this.describe(), owner: this });
    return start;
  }

  override close(): void {
    if (this.valueRegion !== undefined) this.memory.unmap(this.valueRegion);
    this.valueRegion = undefined;
    super.close();
  }

  private keyOf(key: Uint8Array | null, operation: string): number {
    this.checkKey(key, operation);
    return new DataView(key!.buffer, key!.byteOffset, 4).getUint32(0, true);
  }

  /** The slot of `key`, or -1. */
  slotOf(key: number): number {
    if (this.hashed !== undefined) return this.hashed.get(key) ?? -1;
    return key < this.maxEntries && this.present[key] ? key : -1;
  }

  /** The ifindex (devmaps) or queue size (cpumap) stored for `key`, or undefined. */
  target(key: number): number | undefined {
    const slot = this.slotOf(key);
    return slot < 0 ? undefined : this.memory.view.getUint32(this.values + slot * this.slotSize, true);
  }

  override lookupElem(keyAddress: number): number {
    const slot = this.slotOf(this.memory.view.getUint32(keyAddress, true));
    return slot < 0 ? 0 : this.values + slot * this.slotSize;
  }

  override lookup(key: Uint8Array | null, flags = 0): Uint8Array | undefined {
    const k = this.keyOf(key, 'lookup');
    this.checkUserRead('lookup');
    if (flags !== 0) throw this.error('EINVAL', 'lookup', `invalid lookup flags ${flags}`);
    const slot = this.slotOf(k);
    if (slot < 0) return undefined;
    const at = this.values + slot * this.slotSize;
    return this.memory.u8.slice(at, at + this.valueSize);
  }

  override update(key: Uint8Array | null, value: Uint8Array, flags = 0): void {
    const k = this.keyOf(key, 'update');
    this.checkValue(value, 'update');
    this.checkUserWrite('update');
    if (flags < 0 || flags > UpdateFlag.EXIST) throw this.error('EINVAL', 'update', `invalid update flags ${flags}`);
    let slot = this.slotOf(k);
    if (this.hashed === undefined) {
      if (k >= this.maxEntries) throw this.error('E2BIG', 'update', `index ${k} is out of range (max_entries ${this.maxEntries})`);
      if (flags === UpdateFlag.NOEXIST) throw this.error('EEXIST', 'update', 'array slots always exist (BPF_NOEXIST)');
      slot = k;
    } else {
      if (slot >= 0 && flags === UpdateFlag.NOEXIST) throw this.error('EEXIST', 'update', `key ${k} exists (BPF_NOEXIST)`);
      if (slot < 0 && flags === UpdateFlag.EXIST) throw this.error('ENOENT', 'update', `key ${k} does not exist (BPF_EXIST)`);
      if (slot < 0) {
        if (this.hashed.size >= this.maxEntries) throw this.error('E2BIG', 'update', `the map is full (${this.maxEntries} entries)`);
        slot = this.present.indexOf(0);
        this.hashed.set(k, slot);
      }
    }
    const at = this.values + slot * this.slotSize;
    this.memory.u8.fill(0, at, at + this.slotSize);
    this.memory.u8.set(value, at);
    this.present[slot] = 1;
  }

  override delete(key: Uint8Array): boolean {
    const k = this.keyOf(key, 'delete');
    this.checkUserWrite('delete');
    const slot = this.slotOf(k);
    if (slot < 0) return false;
    this.present[slot] = 0;
    this.hashed?.delete(k);
    return true;
  }

  override nextKey(key: Uint8Array | undefined): Uint8Array | undefined {
    this.checkOpen();
    const out = new Uint8Array(4);
    const view = new DataView(out.buffer);
    if (this.hashed !== undefined) {
      const keys = [...this.hashed.keys()];
      const at = key === undefined ? -1 : keys.indexOf(this.keyOf(key, 'get_next_key'));
      const next = keys[at + 1];
      if (next === undefined) return undefined;
      view.setUint32(0, next, true);
      return out;
    }
    const index = key === undefined ? -1 : this.keyOf(key, 'get_next_key');
    const next = index === -1 || index >= this.maxEntries ? 0 : index + 1;
    if (next >= this.maxEntries) return undefined;
    view.setUint32(0, next, true);
    return out;
  }
}
