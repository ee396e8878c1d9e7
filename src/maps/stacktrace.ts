import { MapType } from '../uapi/enums.ts';
import { MapFlag, STACK_BUILD_ID_SIZE, StackFlag } from '../uapi/maps.ts';
import type { VmMemory } from '../vm/memory.ts';
import { VmMap, type VmMapOptions } from './base.ts';
import { negErrno } from './errors.ts';
import { jhash } from './jhash.ts';

interface StackBucket {
  hash: number;
  ips: BigUint64Array;
}

const roundUpPow2 = (n: number): number => (n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n)));

/**
 * BPF_MAP_TYPE_STACK_TRACE as kernel/bpf/stackmap.c: a stack's id is
 * jhash2(ips, 0) & (n_buckets - 1), n_buckets = roundup_pow_of_two
 * (max_entries). A different stack hashing to an occupied bucket is EEXIST
 * unless BPF_F_REUSE_STACKID replaces it; BPF_F_FAST_STACK_CMP trusts a
 * matching hash. Values seen from user space are the instruction pointers,
 * zero-padded to value_size. The VM has no build ids: BPF_F_STACK_BUILD_ID
 * maps are refused (EOPNOTSUPP).
 */
export class StackTraceMap extends VmMap {
  readonly maxDepth: number;
  readonly bucketCount: number;
  private readonly buckets: (StackBucket | undefined)[];

  constructor(memory: VmMemory, options: VmMapOptions) {
    super(memory, options, [MapType.STACK_TRACE]);
    this.maxDepth = this.valueSize / 8;
    this.bucketCount = roundUpPow2(this.maxEntries);
    this.buckets = new Array(this.bucketCount).fill(undefined);
  }

  protected override checkOptions(): void {
    if (this.flags & MapFlag.STACK_BUILD_ID && this.valueSize % STACK_BUILD_ID_SIZE !== 0) {
      throw this.error('EINVAL', 'create', `value size ${this.valueSize} is not a multiple of struct bpf_stack_build_id (${STACK_BUILD_ID_SIZE} bytes)`);
    }
    if (this.flags & MapFlag.STACK_BUILD_ID) throw this.error('EOPNOTSUPP', 'create', 'the VM has no build ids (BPF_F_STACK_BUILD_ID)');
  }

  /**
   * bpf_get_stackid for a stack of instruction pointers, innermost first:
   * the id (≥ 0) or a negative errno. `flags` low 8 bits skip frames.
   */
  getStackId(stack: readonly bigint[], flags: number): number {
    const allowed = StackFlag.SKIP_FIELD_MASK | StackFlag.USER_STACK | StackFlag.FAST_STACK_CMP | StackFlag.REUSE_STACKID;
    if (flags & ~allowed) return negErrno('EINVAL');
    const skip = flags & StackFlag.SKIP_FIELD_MASK;
    const frames = stack.slice(skip, skip + this.maxDepth);
    if (frames.length === 0) return negErrno('EFAULT');
    const ips = BigUint64Array.from(frames);
    const bytes = new Uint8Array(ips.buffer);
    const hash = jhash(bytes, 0, bytes.length, 0);
    const id = hash & (this.bucketCount - 1);
    const bucket = this.buckets[id];
    const hashMatches = bucket !== undefined && bucket.hash === hash;
    if (hashMatches && flags & StackFlag.FAST_STACK_CMP) return id;
    if (hashMatches && bucket.ips.length === ips.length && bucket.ips.every((ip, i) => ip === ips[i])) return id;
    if (bucket !== undefined && !(flags & StackFlag.REUSE_STACKID)) return negErrno('EEXIST');
    this.buckets[id] = { hash, ips };
    return id;
  }

  override lookup(key: Uint8Array | null, flags = 0): Uint8Array | undefined {
    const id = this.keyIndex(key, 'lookup');
    this.checkUserRead('lookup');
    if (flags !== 0) throw this.error('EINVAL', 'lookup', `invalid lookup flags ${flags}`);
    const bucket = id < this.bucketCount ? this.buckets[id] : undefined;
    if (!bucket) return undefined;
    const out = new Uint8Array(this.valueSize);
    out.set(new Uint8Array(bucket.ips.buffer, 0, bucket.ips.length * 8));
    return out;
  }

  override delete(key: Uint8Array): boolean {
    const id = this.keyIndex(key, 'delete');
    this.checkUserWrite('delete');
    if (id >= this.bucketCount || !this.buckets[id]) return false;
    this.buckets[id] = undefined;
    return true;
  }

  override lookupAndDelete(key: Uint8Array | null): Uint8Array | undefined {
    const value = this.lookup(key);
    if (value) this.delete(key!);
    return value;
  }

  override nextKey(key: Uint8Array | undefined): Uint8Array | undefined {
    this.checkOpen();
    let id = 0;
    if (key !== undefined) {
      const current = this.keyIndex(key, 'get_next_key');
      id = current >= this.bucketCount || !this.buckets[current] ? 0 : current + 1;
    }
    while (id < this.bucketCount && !this.buckets[id]) id++;
    return id < this.bucketCount ? VmMap.indexKey(id) : undefined;
  }
}
