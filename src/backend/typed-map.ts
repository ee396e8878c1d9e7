/**
 * Typed access to any `BpfMap` (kernel or VM): keys and values encoded and
 * decoded through the map's BTF key/value types (src/btf/value.ts).
 *
 * A plain map is a `TypedMap<K, V>` whose values are `V`; a per-CPU map is a
 * `PerCpuTypedMap<K, V>` whose values are `V[]`, one per possible CPU, so
 * neither needs a cast under `strict`. Maps without a BTF key type but with
 * 4-byte keys (global data sections, legacy array definitions) take the
 * index as a number.
 */
import type { Btf } from '../btf/btf.ts';
import { type BtfValue, type BtfValueCodec, btfValueCodec } from '../btf/value.ts';
import { TsbpfError } from '../errors.ts';
import type { CollectionSpec } from '../object/spec.ts';
import type { BpfMap } from './interface.ts';

/** A typed map used against its types: wrong backend map, missing BTF, per-CPU mismatch. */
export class TypedMapError extends TsbpfError {
  override name = 'TypedMapError';
}

/** How the keys of a map are written: through a BTF type, as a u32 index, or absent (queue, stack). */
type KeyCodec = { kind: 'btf'; codec: BtfValueCodec } | { kind: 'index' } | { kind: 'none' };

abstract class TypedMapBase<K> {
  /** The key's codec; undefined when the map has no BTF key type. */
  readonly key: BtfValueCodec | undefined;
  readonly value: BtfValueCodec;
  readonly #keys: KeyCodec;

  constructor(
    readonly map: BpfMap,
    btf: Btf,
    keyTypeId: number,
    valueTypeId: number,
  ) {
    const label = `map '${map.name}'`;
    if (keyTypeId !== 0) this.#keys = { kind: 'btf', codec: btfValueCodec(btf, keyTypeId, 'key') };
    else if (map.keySize === 0) this.#keys = { kind: 'none' };
    else if (map.keySize === 4) this.#keys = { kind: 'index' };
    else throw new TypedMapError(`${label}: no BTF key type for a ${map.keySize}-byte key`);
    this.key = this.#keys.kind === 'btf' ? this.#keys.codec : undefined;
    this.value = btfValueCodec(btf, valueTypeId, 'value');
    if (this.key && this.key.size !== map.keySize) throw new TypedMapError(`${label}: BTF key type ${btf.describe(keyTypeId)} is ${this.key.size} bytes, the map's key size is ${map.keySize}`);
    if (this.value.size !== map.valueSize) throw new TypedMapError(`${label}: BTF value type ${btf.describe(valueTypeId)} is ${this.value.size} bytes, the map's value size is ${map.valueSize}`);
  }

  protected encodeKey(key: K | null): Uint8Array | null {
    switch (this.#keys.kind) {
      case 'none':
        if (key !== null) throw new TypedMapError(`map '${this.map.name}' has no keys: pass null`);
        return null;
      case 'index': {
        if (typeof key !== 'number' || !Number.isInteger(key) || key < 0 || key > 0xffffffff) throw new TypedMapError(`map '${this.map.name}' is indexed by a u32: expected an index, got ${String(key)}`);
        const bytes = new Uint8Array(4);
        new DataView(bytes.buffer).setUint32(0, key, true);
        return bytes;
      }
      case 'btf':
        return this.#keys.codec.encode(key);
    }
  }

  protected decodeKey(bytes: Uint8Array): K {
    switch (this.#keys.kind) {
      case 'none':
        return null as unknown as K;
      case 'index':
        return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) as K;
      case 'btf':
        return this.#keys.codec.decode(bytes) as K;
    }
  }

  /** False when the key was not there. */
  delete(key: K): boolean {
    return this.map.delete(this.encodeKey(key)!);
  }

  *keys(): IterableIterator<K> {
    for (const key of this.map.keys()) yield this.decodeKey(key);
  }
}

/** A plain (not per-CPU) BpfMap seen through its BTF types; `K`/`V` describe the decoded shapes. */
export class TypedMap<K = BtfValue, V = BtfValue> extends TypedMapBase<K> {
  constructor(map: BpfMap, btf: Btf, keyTypeId: number, valueTypeId: number) {
    if (map.perCpu) throw new TypedMapError(`map '${map.name}' is per-CPU: use PerCpuTypedMap (typedPerCpu), whose values are one per CPU`);
    super(map, btf, keyTypeId, valueTypeId);
  }

  /** The value at `key`, or undefined. */
  get(key: K | null): V | undefined {
    const bytes = this.map.lookup(this.encodeKey(key));
    return bytes === undefined ? undefined : (this.value.decode(bytes) as V);
  }

  /** Writes `value` with BPF_ANY/NOEXIST/EXIST `flags`. */
  set(key: K | null, value: V, flags = 0): void {
    this.map.update(this.encodeKey(key), this.value.encode(value), flags);
  }

  /** Entries read with GET_NEXT_KEY + LOOKUP. */
  *entries(): IterableIterator<[K, V]> {
    for (const [key, bytes] of this.map.entries()) yield [this.decodeKey(key), this.value.decode(bytes) as V];
  }

  /** Entries read with the batch commands. */
  lookupBatch(options?: { batchSize?: number }): Array<[K, V]> {
    return this.map.lookupBatch(options).map(([key, bytes]) => [this.decodeKey(key), this.value.decode(bytes) as V]);
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}

/** A per-CPU BpfMap seen through its BTF types: every value is one `V` per possible CPU. */
export class PerCpuTypedMap<K = BtfValue, V = BtfValue> extends TypedMapBase<K> {
  constructor(map: BpfMap, btf: Btf, keyTypeId: number, valueTypeId: number) {
    if (!map.perCpu) throw new TypedMapError(`map '${map.name}' is not per-CPU: use TypedMap (typed), whose values are single`);
    super(map, btf, keyTypeId, valueTypeId);
  }

  /** One value per possible CPU, or undefined. */
  get(key: K): V[] | undefined {
    return this.map.lookupPerCpu(this.encodeKey(key)!)?.map((v) => this.value.decode(v) as V);
  }

  /** Writes one value per possible CPU with BPF_ANY/NOEXIST/EXIST `flags`. */
  set(key: K, values: readonly V[], flags = 0): void {
    if (!Array.isArray(values)) throw new TypedMapError(`map '${this.map.name}' is per-CPU: set takes an array with one value per possible CPU`);
    this.map.updatePerCpu(this.encodeKey(key)!, values.map((v) => this.value.encode(v)), flags);
  }

  *entries(): IterableIterator<[K, V[]]> {
    for (const [key, bytes] of this.map.entries()) yield [this.decodeKey(key), this.#decodeAll(bytes)];
  }

  lookupBatch(options?: { batchSize?: number }): Array<[K, V[]]> {
    return this.map.lookupBatch(options).map(([key, bytes]) => [this.decodeKey(key), this.#decodeAll(bytes)]);
  }

  [Symbol.iterator](): IterableIterator<[K, V[]]> {
    return this.entries();
  }

  #decodeAll(bytes: Uint8Array): V[] {
    const stride = Math.ceil(this.map.valueSize / 8) * 8; // the per-CPU slot: the value padded to 8 bytes
    const out: V[] = [];
    for (let at = 0; at < bytes.length; at += stride) out.push(this.value.decode(bytes, at) as V);
    return out;
  }
}

/** `map` typed with explicit BTF type ids. */
export function typedMap<K = BtfValue, V = BtfValue>(map: BpfMap, btf: Btf, keyTypeId: number, valueTypeId: number): TypedMap<K, V> {
  return new TypedMap<K, V>(map, btf, keyTypeId, valueTypeId);
}

/** Per-CPU `map` typed with explicit BTF type ids. */
export function typedPerCpuMap<K = BtfValue, V = BtfValue>(map: BpfMap, btf: Btf, keyTypeId: number, valueTypeId: number): PerCpuTypedMap<K, V> {
  return new PerCpuTypedMap<K, V>(map, btf, keyTypeId, valueTypeId);
}

/** The BTF and type ids the definition of map `name` in `spec` records. */
function specTypes(spec: CollectionSpec, name: string): { btf: Btf; keyTypeId: number; valueTypeId: number } {
  const definition = spec.maps[name];
  if (definition === undefined) throw new TypedMapError(`the collection has no map '${name}' (maps: ${Object.keys(spec.maps).join(', ')})`);
  if (spec.btf === undefined) throw new TypedMapError(`map '${name}': the object has no BTF, so its keys and values have no types`);
  const valueTypeId = definition.btfValueTypeId ?? 0;
  if (valueTypeId === 0) throw new TypedMapError(`map '${name}' has no BTF value type (a legacy 'maps' section definition?): use typedMap with explicit type ids`);
  return { btf: spec.btf, keyTypeId: definition.btfKeyTypeId ?? 0, valueTypeId };
}

/** `map` typed with the BTF key/value types its definition `name` in `spec` records (either backend's collection map). */
export function typedSpecMap<K = BtfValue, V = BtfValue>(spec: CollectionSpec, name: string, map: BpfMap): TypedMap<K, V> {
  const { btf, keyTypeId, valueTypeId } = specTypes(spec, name);
  return new TypedMap<K, V>(map, btf, keyTypeId, valueTypeId);
}

/** Per-CPU `map` typed with the BTF types of its definition `name` in `spec`. */
export function typedSpecPerCpuMap<K = BtfValue, V = BtfValue>(spec: CollectionSpec, name: string, map: BpfMap): PerCpuTypedMap<K, V> {
  const { btf, keyTypeId, valueTypeId } = specTypes(spec, name);
  return new PerCpuTypedMap<K, V>(map, btf, keyTypeId, valueTypeId);
}
