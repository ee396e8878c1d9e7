/**
 * The packet of an XDP or skb run, laid out as the kernel's
 * BPF_PROG_TEST_RUN lays it out: one frame buffer with headroom before the
 * data (XDP_PACKET_HEADROOM for XDP, NET_SKB_PAD + NET_IP_ALIGN for skbs)
 * and room after it. Only [data_meta, data_end) is mapped as the program's
 * packet region, so an access past data_end faults as the verifier would
 * have refused it; the helpers that move data, data_meta and data_end
 * re-map the region and update the context fields through `onBoundsChange`.
 */
import type { Region, VmMemory } from '../memory.ts';

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
  readonly hardStart: number;
  /** End of the usable frame (data_hard_end). */
  readonly hardEnd: number;
  readonly frameBytes: number;
  /** Where the Ethernet header starts (skb_load_bytes_relative's BPF_HDR_START_MAC). */
  readonly macHeader: number;
  dataMeta: number;
  data: number;
  dataEnd: number;
  private region: Region | undefined;
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
    readonly headroom: number,
    tailroom: number,
    minimumFrame = 0,
  ) {
    const frame = Math.max(headroom + input.length + tailroom, minimumFrame);
    this.frameBytes = frame;
    this.hardStart = memory.allocate(frame);
    this.hardEnd = this.hardStart + frame - tailroom;
    this.data = this.dataMeta = this.hardStart + headroom;
    this.macHeader = this.data;
    this.dataEnd = this.data + input.length;
    memory.u8.set(input, this.data);
    this.remap();
  }

  get length(): number {
    return this.dataEnd - this.data;
  }

  get metaLength(): number {
    return this.data - this.dataMeta;
  }

  /** The bytes of [data_meta, data_end) or [data, data_end), copied. */
  read(withMeta: boolean): Uint8Array {
    return this.memory.u8.slice(withMeta ? this.dataMeta : this.data, this.dataEnd);
  }

  setBounds(bounds: PacketBounds): void {
    this.dataMeta = bounds.dataMeta;
    this.data = bounds.data;
    this.dataEnd = bounds.dataEnd;
    this.remap();
    this.onBoundsChange?.(bounds);
  }

  private remap(): void {
    if (this.region !== undefined) this.memory.unmap(this.region);
    this.region = undefined;
    const size = this.dataEnd - this.dataMeta;
    if (size > 0) this.region = this.memory.map({ start: this.dataMeta, size, kind: 'packet', writable: true, name: 'packet' });
  }

  /** Unmaps and frees the frame. */
  release(): void {
    if (this.region !== undefined) this.memory.unmap(this.region);
    this.region = undefined;
    this.memory.release(this.hardStart, this.frameBytes);
  }
}
