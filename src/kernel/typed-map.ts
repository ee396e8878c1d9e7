/**
 * Typed access to any `BpfMap` (kernel or VM): keys and values encoded and
 * decoded through the map's BTF key/value types (src/btf/value.ts). Per-CPU
 * maps take and return one decoded value per possible CPU.
 */
import type { Btf } from '../btf/btf.ts';
import { type BtfValue, type BtfValueCodec, btfValueCodec } from '../btf/value.ts';
import type { CollectionSpec } from '../object/spec.ts';
import { KernelArgumentError } from './errors.ts';
import type { BpfMap } from '../backend/index.ts';

/** A BpfMap seen through its BTF types. `K`/`V` describe the decoded shapes (default: any BtfValue). */
export class TypedMap<K extends BtfValue = BtfValue, V extends BtfValue = BtfValue> {
  readonly key: BtfValueCodec | undefined;
  readonly value: BtfValueCodec;

  constructor(
    readonly map: BpfMap,
    btf: Btf,
    keyTypeId: number,
    valueTypeId: number,
  ) {
    const label = `map '${map.name}'`;
    if (keyTypeId === 0 && map.keySize !== 0) throw new KernelArgumentError(`${label}: key type id 0 (void) for a ${map.keySize}-byte key`);
    this.key = keyTypeId === 0 ? undefined : btfValueCodec(btf, keyTypeId, 'key');
    this.value = btfValueCodec(btf, valueTypeId, 'value');
    if (this.key && this.key.size !== map.keySize) throw new KernelArgumentError(`${label}: BTF key type ${btf.describe(keyTypeId)} is ${this.key.size} bytes, the map's key size is ${map.keySize}`);
    if (this.value.size !== map.valueSize) throw new KernelArgumentError(`${label}: BTF value type ${btf.describe(valueTypeId)} is ${this.value.size} bytes, the map's value size is ${map.valueSize}`);
  }

  #key(key: K | null): Uint8Array | null {
    if (this.key === undefined) {
      if (key !== null) throw new KernelArgumentError(`map '${this.map.name}' has no keys: pass null`);
      return null;
    }
    return this.key.encode(key);
  }

  /** The value at `key` (per-CPU maps: one per possible CPU), or undefined. */
  get(key: K | null): V | V[] | undefined {
    const encoded = this.#key(key);
    if (this.map.perCpu) return this.map.lookupPerCpu(encoded!)?.map((v) => this.value.decode(v) as V);
    const bytes = this.map.lookup(encoded);
    return bytes === undefined ? undefined : (this.value.decode(bytes) as V);
  }

  /** Writes `value` (per-CPU maps: an array with one value per possible CPU) with BPF_ANY/NOEXIST/EXIST `flags`. */
  set(key: K | null, value: V | V[], flags = 0): void {
    const encoded = this.#key(key);
    if (this.map.perCpu) {
      if (!Array.isArray(value)) throw new KernelArgumentError(`map '${this.map.name}' is per-CPU: set takes an array with one value per possible CPU`);
      this.map.updatePerCpu(encoded!, (value as unknown[]).map((v) => this.value.encode(v)), flags);
      return;
    }
    this.map.update(encoded, this.value.encode(value), flags);
  }

  /** False when the key was not there. */
  delete(key: K): boolean {
    return this.map.delete(this.#key(key)!);
  }

  *keys(): IterableIterator<K> {
    for (const key of this.map.keys()) yield this.#decodeKey(key);
  }

  /** Entries read with GET_NEXT_KEY + LOOKUP; per-CPU values as arrays. */
  *entries(): IterableIterator<[K, V | V[]]> {
    for (const [key, bytes] of this.map.entries()) yield [this.#decodeKey(key), this.#decodeValue(bytes)];
  }

  /** Entries read with the batch commands. */
  lookupBatch(options?: { batchSize?: number }): Array<[K, V | V[]]> {
    return this.map.lookupBatch(options).map(([key, bytes]) => [this.#decodeKey(key), this.#decodeValue(bytes)]);
  }

  [Symbol.iterator](): IterableIterator<[K, V | V[]]> {
    return this.entries();
  }

  #decodeKey(bytes: Uint8Array): K {
    return (this.key ? this.key.decode(bytes) : null) as K;
  }

  #decodeValue(bytes: Uint8Array): V | V[] {
    if (!this.map.perCpu) return this.value.decode(bytes) as V;
    const stride = Math.ceil(this.map.valueSize / 8) * 8; // the per-CPU slot: the value padded to 8 bytes
    const out: V[] = [];
    for (let at = 0; at < bytes.length; at += stride) out.push(this.value.decode(bytes, at) as V);
    return out;
  }
}

/** `map` typed with explicit BTF type ids. */
export function typedMap<K extends BtfValue = BtfValue, V extends BtfValue = BtfValue>(map: BpfMap, btf: Btf, keyTypeId: number, valueTypeId: number): TypedMap<K, V> {
  return new TypedMap<K, V>(map, btf, keyTypeId, valueTypeId);
}

/** `map` typed with the BTF key/value types its definition `name` in `spec` records (either backend's collection map). */
export function typedSpecMap<K extends BtfValue = BtfValue, V extends BtfValue = BtfValue>(spec: CollectionSpec, name: string, map: BpfMap): TypedMap<K, V> {
  const definition = spec.maps[name];
  if (definition === undefined) throw new KernelArgumentError(`the collection has no map '${name}' (maps: ${Object.keys(spec.maps).join(', ')})`);
  if (spec.btf === undefined) throw new KernelArgumentError(`map '${name}': the object has no BTF, so its keys and values have no types`);
  const valueTypeId = definition.btfValueTypeId ?? 0;
  if (valueTypeId === 0) throw new KernelArgumentError(`map '${name}' has no BTF value type (a legacy 'maps' section definition?): use typedMap with explicit type ids`);
  return new TypedMap<K, V>(map, spec.btf, definition.btfKeyTypeId ?? 0, valueTypeId);
}
