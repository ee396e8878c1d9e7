/**
 * The packet of an XDP or skb run, laid out as the kernel's
 * BPF_PROG_TEST_RUN lays it out: one frame buffer with headroom before the
 * data (XDP_PACKET_HEADROOM for XDP, NET_SKB_PAD + NET_IP_ALIGN for skbs)
 * and room after it. Only [data_meta, data_end) is mapped as the program's
 * packet region, so an access past data_end faults as the verifier would
 * have refused it; the helpers that move data, data_meta and data_end
 * re-map the region and update the context fields through `onBoundsChange`.
 *
 * A buffer is reusable: `reload` lays out the next run's frame in the same
 * memory (grown when a larger frame is needed), and `unmap` ends a run
 * without freeing it. The kernel's frame is zeroed apart from the data
 * (kzalloc), so a reload zeroes what earlier runs may have written: bytes
 * change only through the packet region (program stores and the packet
 * helpers), so the union of every [data_meta, data_end) mapped since the
 * last reload bounds them.
 */
import type { Region, VmMemory } from '../memory.ts';
import { copyBytes } from '../../net/index.ts';

/** sizeof(struct xdp_frame) on 64-bit kernels: the start of the headroom xdp_adjust_head cannot reach. */
export const XDP_FRAME_SIZE = 40;
/** XDP_PACKET_HEADROOM. */
export const XDP_HEADROOM = 256;
/** BPF_PROG_TEST_RUN's XDP frame: one page (headroom + data + tailroom). */
export const XDP_FRAME_BYTES = 4096;
/** SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86-64: the tailroom an XDP frame keeps. */
export const XDP_TAILROOM = 320;
/** Largest data_meta area: skb_shared_info.meta_len is a u8, and the length must be a multiple of 4. */
export const XDP_MAX_META = 252;
/** NET_SKB_PAD + NET_IP_ALIGN: headroom of a test-run skb. */
export const SKB_HEADROOM = 64 + 2;
export const ETH_HLEN = 14;

export interface PacketBounds {
  dataMeta: number;
  data: number;
  dataEnd: number;
}

export class PacketBuffer {
  /** Start of the frame buffer (data_hard_start). */
  hardStart = 0;
  /** End of the usable frame (data_hard_end). */
  hardEnd = 0;
  /** Bytes reserved for frames at hardStart: the largest frame laid out so far. */
  frameBytes = 0;
  headroom = 0;
  /** Where the Ethernet header starts (skb_load_bytes_relative's BPF_HDR_START_MAC). */
  macHeader = 0;
  dataMeta = 0;
  data = 0;
  dataEnd = 0;
  /** [dirtyStart, dirtyEnd): the part of the frame that may hold non-zero bytes. */
  private dirtyStart = 0;
  private dirtyEnd = 0;
  private region: Region | undefined;
  private lastRegion: Region | undefined;
  /** Called after data/data_meta/data_end move, to update the context fields that hold them. */
  onBoundsChange: ((bounds: PacketBounds) => void) | undefined;

  /**
   * Allocates a frame of `headroom + data.length + tailroom` bytes (at least
   * `minimumFrame`) and copies `data` in after the headroom.
   */
  constructor(
    readonly memory: VmMemory,
    input: Uint8Array,
    readonly kind: 'xdp' | 'skb',
    headroom: number,
    tailroom: number,
    minimumFrame = 0,
  ) {
    this.reload(input, headroom, tailroom, minimumFrame);
  }

  /**
   * Lays out a new frame as the constructor does, in this buffer's memory
   * when it is large enough: earlier runs' bytes zeroed, `input` copied in
   * after the headroom, [data, data_end) mapped. The previous mapping must
   * have been ended with `unmap`.
   */
  reload(input: Uint8Array, headroom: number, tailroom: number, minimumFrame = 0): void {
    const frame = Math.max(headroom + input.length + tailroom, minimumFrame);
    const memory = this.memory;
    if (frame > this.frameBytes) {
      if (this.frameBytes > 0) memory.release(this.hardStart, this.frameBytes);
      this.hardStart = memory.allocate(frame);
      this.frameBytes = frame;
      this.dirtyStart = this.dirtyEnd = this.hardStart;
    }
    const data = this.hardStart + headroom;
    const dataEnd = data + input.length;
    const u8 = memory.u8;
    // Zero the stale bytes around the new data; the data itself is overwritten.
    if (this.dirtyStart < data) u8.fill(0, this.dirtyStart, Math.min(data, this.dirtyEnd));
    if (this.dirtyEnd > dataEnd) u8.fill(0, Math.max(dataEnd, this.dirtyStart), this.dirtyEnd);
    u8.set(input, data);
    this.headroom = headroom;
    this.hardEnd = this.hardStart + frame - tailroom;
    this.data = this.dataMeta = this.macHeader = data;
    this.dataEnd = dataEnd;
    this.dirtyStart = data;
    this.dirtyEnd = dataEnd;
    this.remap();
  }

  /**
   * The streaming path's reload: `bytes[start, end)` (which may be the VM
   * memory's own `u8`) as the next frame's
   * data, with the headroom, tailroom and frame of the last `reload` (the
   * frame must be large enough) and the packet region still mapped.
   */
  reloadData(bytes: Uint8Array, start: number, end: number): void {
    const data = this.hardStart + this.headroom;
    const dataEnd = data + end - start;
    const u8 = this.memory.u8;
    if (this.dirtyStart < data) u8.fill(0, this.dirtyStart, Math.min(data, this.dirtyEnd));
    if (this.dirtyEnd > dataEnd) u8.fill(0, Math.max(dataEnd, this.dirtyStart), this.dirtyEnd);
    // From VM memory itself (a staged batch): a copy within the buffer, no view to allocate.
    if (bytes === u8) u8.copyWithin(data, start, end);
    else u8.set(bytes.subarray(start, end), data);
    this.data = this.dataMeta = this.macHeader = data;
    this.dataEnd = dataEnd;
    this.dirtyStart = data;
    this.dirtyEnd = dataEnd;
    this.remap();
  }

  /** The packet region while mapped. */
  get mappedRegion(): Region | undefined {
    return this.region;
  }

  get length(): number {
    return this.dataEnd - this.data;
  }

  get metaLength(): number {
    return this.data - this.dataMeta;
  }

  /** The bytes of [data_meta, data_end) or [data, data_end), copied. */
  read(withMeta: boolean): Uint8Array {
    return copyBytes(this.memory.u8, withMeta ? this.dataMeta : this.data, this.dataEnd);
  }

  setBounds(bounds: PacketBounds): void {
    this.dataMeta = bounds.dataMeta;
    this.data = bounds.data;
    this.dataEnd = bounds.dataEnd;
    this.remap();
    this.onBoundsChange?.(bounds);
  }

  private remap(): void {
    const memory = this.memory;
    const size = this.dataEnd - this.dataMeta;
    if (size <= 0) {
      if (this.region !== undefined) memory.unmap(this.region);
      this.region = undefined;
      return;
    }
    // One Region object for the buffer's life, moved rather than replaced: the JIT's region table then changes in place.
    if (this.region !== undefined) memory.moveRegion(this.region, this.dataMeta, size);
    else {
      const region = (this.lastRegion ??= { start: this.dataMeta, size, kind: 'packet', writable: true, name: 'packet' }) as { start: number; size: number };
      region.start = this.dataMeta;
      region.size = size;
      this.region = memory.map(this.lastRegion);
    }
    if (this.dataMeta < this.dirtyStart) this.dirtyStart = this.dataMeta;
    if (this.dataEnd > this.dirtyEnd) this.dirtyEnd = this.dataEnd;
  }

  /** Ends a run: the packet region is unmapped, the frame kept for `reload`. */
  unmap(): void {
    if (this.region !== undefined) this.memory.unmap(this.region);
    this.region = undefined;
    this.onBoundsChange = undefined;
  }

  /** Unmaps and frees the frame. */
  release(): void {
    this.unmap();
    if (this.frameBytes > 0) this.memory.release(this.hardStart, this.frameBytes);
    this.frameBytes = 0;
  }
}
