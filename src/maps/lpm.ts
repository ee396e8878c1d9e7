import { MapType } from '../uapi/enums.ts';
import { UpdateFlag } from '../uapi/maps.ts';
import type { VmMemory } from '../vm/memory.ts';
import { VmMap, type VmMapOptions } from './base.ts';
import { negErrno } from './errors.ts';

interface LpmEntry {
  prefixLen: number;
  /** The key's data bytes as last written (bits past the prefix included: get_next_key returns them, as the kernel does). */
  data: Uint8Array;
  slot: number;
}

const roundUp8 = (n: number): number => (n + 7) & ~7;

/**
 * BPF_MAP_TYPE_LPM_TRIE. Keys are `struct bpf_lpm_trie_key_u8`: a u32
 * prefix length, then key_size - 4 data bytes in network order. Lookups
 * (program and user space) return the longest stored prefix that matches
 * the key's first `prefixlen` bits; get_next_key walks the kernel's
 * post-order (more specific prefixes before the prefixes containing them,
 * the 0 branch before the 1 branch). Values live in VM memory at stable
 * addresses; the index is a table per prefix length (probed longest first),
 * kept in JS, so JIT code calls back into JS for LPM lookups.
 */
export class LpmTrieMap extends VmMap {
  readonly dataSize: number;
  readonly maxPrefixLen: number;
  private readonly values: number;
  private readonly slotSize: number;
  private readonly free: number[] = [];
  /** prefix length -> masked data (latin1 string) -> entry. */
  private readonly byLength = new Map<number, Map<string, LpmEntry>>();
  /** Prefix lengths present, longest first. */
  private lengths: number[] = [];
  private count = 0;
  private order: LpmEntry[] | undefined;
  private readonly scratch: number;

  constructor(memory: VmMemory, options: VmMapOptions) {
    super(memory, options, [MapType.LPM_TRIE]);
    this.dataSize = this.keySize - 4;
    this.maxPrefixLen = this.dataSize * 8;
    this.slotSize = roundUp8(this.valueSize);
    this.values = this.reserveRegion(this.maxEntries * this.slotSize).start;
    this.scratch = this.reserveMemory(Math.max(this.keySize, this.valueSize, 8), 'scratch');
    for (let i = this.maxEntries - 1; i >= 0; i--) this.free.push(i);
  }

  get size(): number {
    return this.count;
  }

  private masked(data: Uint8Array, prefixLen: number): string {
    let s = '';
    const full = prefixLen >> 3;
    for (let i = 0; i < full; i++) s += String.fromCharCode(data[i]!);
    const bits = prefixLen & 7;
    if (bits) s += String.fromCharCode(data[full]! & (0xff << (8 - bits)) & 0xff);
    return s;
  }

  private readKey(address: number): { prefixLen: number; data: Uint8Array } {
    return {
      prefixLen: this.memory.view.getUint32(address, true),
      data: this.memory.u8.subarray(address + 4, address + this.keySize),
    };
  }

  private longestMatch(prefixLen: number, data: Uint8Array): LpmEntry | undefined {
    const limit = Math.min(prefixLen, this.maxPrefixLen);
    for (const length of this.lengths) {
      if (length > limit) continue;
      const entry = this.byLength.get(length)!.get(this.masked(data, length));
      if (entry) return entry;
    }
    return undefined;
  }

  private exact(prefixLen: number, data: Uint8Array): LpmEntry | undefined {
    return this.byLength.get(prefixLen)?.get(this.masked(data, prefixLen));
  }

  private updateAt(keyAddress: number, valueAddress: number, flags: number): number {
    if (flags > UpdateFlag.EXIST || flags < 0) return negErrno('EINVAL');
    const { prefixLen, data } = this.readKey(keyAddress);
    if (prefixLen > this.maxPrefixLen) return negErrno('EINVAL');
    let entry = this.exact(prefixLen, data);
    if (entry) {
      if (flags === UpdateFlag.NOEXIST) return negErrno('EEXIST');
      entry.data = data.slice();
    } else {
      if (flags === UpdateFlag.EXIST) return negErrno('ENOENT');
      if (this.count === this.maxEntries) return negErrno('ENOSPC');
      entry = { prefixLen, data: data.slice(), slot: this.free.pop()! };
      let table = this.byLength.get(prefixLen);
      if (!table) {
        table = new Map();
        this.byLength.set(prefixLen, table);
        this.lengths = [...this.byLength.keys()].sort((a, b) => b - a);
      }
      table.set(this.masked(data, prefixLen), entry);
      this.count++;
      this.order = undefined;
    }
    const at = this.values + entry.slot * this.slotSize;
    this.memory.u8.copyWithin(at, valueAddress, valueAddress + this.valueSize);
    return 0;
  }

  private deleteAt(keyAddress: number): number {
    const { prefixLen, data } = this.readKey(keyAddress);
    if (prefixLen > this.maxPrefixLen) return negErrno('EINVAL');
    const table = this.byLength.get(prefixLen);
    const id = this.masked(data, prefixLen);
    const entry = table?.get(id);
    if (!table || !entry) return negErrno('ENOENT');
    table.delete(id);
    if (table.size === 0) {
      this.byLength.delete(prefixLen);
      this.lengths = this.lengths.filter((l) => l !== prefixLen);
    }
    this.free.push(entry.slot);
    this.count--;
    this.order = undefined;
    return 0;
  }

  override lookupElem(keyAddress: number): number {
    const { prefixLen, data } = this.readKey(keyAddress);
    const entry = this.longestMatch(prefixLen, data);
    return entry ? this.values + entry.slot * this.slotSize : 0;
  }

  override updateElem(keyAddress: number, valueAddress: number, flags: number): number {
    return this.updateAt(keyAddress, valueAddress, flags);
  }

  override deleteElem(keyAddress: number): number {
    return this.deleteAt(keyAddress);
  }

  private putKey(key: Uint8Array): number {
    this.memory.u8.set(key, this.scratch);
    return this.scratch;
  }

  override lookup(key: Uint8Array | null, flags = 0): Uint8Array | undefined {
    this.checkKey(key, 'lookup');
    this.checkUserRead('lookup');
    if (flags !== 0) throw this.error('EINVAL', 'lookup', `invalid lookup flags ${flags}`);
    const address = this.lookupElem(this.putKey(key!));
    return address === 0 ? undefined : this.memory.u8.slice(address, address + this.valueSize);
  }

  override update(key: Uint8Array | null, value: Uint8Array, flags = 0): void {
    this.checkKey(key, 'update');
    this.checkValue(value, 'update');
    this.checkUserWrite('update');
    const prefixLen = new DataView(key!.buffer, key!.byteOffset, 4).getUint32(0, true);
    const valueAddress = this.memory.allocate(this.valueSize);
    try {
      this.memory.u8.set(value, valueAddress);
      const result = this.updateAt(this.putKey(key!), valueAddress, flags);
      if (result === 0) return;
      const reasons: Record<number, [code: 'EEXIST' | 'ENOENT' | 'ENOSPC' | 'EINVAL', detail: string]> = {
        17: ['EEXIST', 'the prefix exists (BPF_NOEXIST)'],
        2: ['ENOENT', 'the prefix does not exist (BPF_EXIST)'],
        28: ['ENOSPC', `the trie is full (max_entries ${this.maxEntries})`],
      };
      const [code, detail] = reasons[-result] ?? ['EINVAL', prefixLen > this.maxPrefixLen ? `prefix length ${prefixLen} exceeds ${this.maxPrefixLen}` : `invalid update flags ${flags}`];
      throw this.error(code, 'update', detail);
    } finally {
      this.memory.release(valueAddress, this.valueSize);
    }
  }

  override delete(key: Uint8Array): boolean {
    this.checkKey(key, 'delete');
    this.checkUserWrite('delete');
    const result = this.deleteAt(this.putKey(key));
    if (result === negErrno('EINVAL')) throw this.error('EINVAL', 'delete', `prefix length exceeds ${this.maxPrefixLen}`);
    return result === 0;
  }

  /** Post-order position: a before b when b's prefix contains a's, else by the first differing bit. */
  private compare(a: LpmEntry, b: LpmEntry): number {
    const common = Math.min(a.prefixLen, b.prefixLen);
    for (let bit = 0; bit < common; bit++) {
      const x = (a.data[bit >> 3]! >> (7 - (bit & 7))) & 1;
      const y = (b.data[bit >> 3]! >> (7 - (bit & 7))) & 1;
      if (x !== y) return x - y;
    }
    return b.prefixLen - a.prefixLen;
  }

  override nextKey(key: Uint8Array | undefined): Uint8Array | undefined {
    this.checkOpen();
    this.order ??= [...this.byLength.values()].flatMap((t) => [...t.values()]).sort((a, b) => this.compare(a, b));
    let position = 0;
    if (key !== undefined) {
      this.checkKey(key, 'get_next_key');
      const prefixLen = new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true);
      const current = prefixLen <= this.maxPrefixLen ? this.exact(prefixLen, key.subarray(4)) : undefined;
      position = current ? this.order.indexOf(current) + 1 : 0;
    }
    const next = this.order[position];
    if (!next) return undefined;
    const out = new Uint8Array(this.keySize);
    new DataView(out.buffer).setUint32(0, next.prefixLen, true);
    out.set(next.data, 4);
    return out;
  }
}
