/** The programs the playground starts from, each with the input it is meant to run on. */
export interface Example {
  id: string;
  title: string;
  mode: 'asm' | 'trace';
  section: string;
  source: string;
  /** Packet to run on: the form's fields (the hex is built from them). */
  packet?: PacketForm;
}

export interface PacketForm {
  l3: 'ipv4' | 'ipv6';
  l4: 'udp' | 'tcp';
  srcMac: string;
  dstMac: string;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  ttl: number;
  tcpFlags: number;
  payload: string;
}

export const DEFAULT_PACKET: PacketForm = {
  l3: 'ipv4',
  l4: 'udp',
  srcMac: '02:00:00:00:00:01',
  dstMac: '02:00:00:00:00:02',
  src: '10.0.0.1',
  dst: '10.0.0.2',
  sport: 40000,
  dport: 9,
  ttl: 64,
  tcpFlags: 0x02,
  payload: 'hello',
};

const DROP_FILTER = `; XDP drop filter: drop IPv4 UDP packets to port 9 (discard), pass the rest.
; r1 = struct xdp_md *: data at +0, data_end at +4.
    r2 = *(u32 *)(r1 + 4)        ; data_end
    r1 = *(u32 *)(r1 + 0)        ; data
    r0 = 2                       ; XDP_PASS
    r3 = r1
    r3 += 42                     ; Ethernet (14) + IPv4 (20) + UDP (8)
    if r3 > r2 goto out          ; the verifier needs this bounds check
    r4 = *(u16 *)(r1 + 12)       ; EtherType, big-endian in memory
    if r4 != 0x8 goto out        ; 0x0800 read little-endian
    r4 = *(u8 *)(r1 + 23)        ; IPv4 protocol
    if r4 != 17 goto out         ; UDP
    r4 = *(u16 *)(r1 + 36)       ; UDP destination port
    if r4 != 0x900 goto out      ; port 9
    r0 = 1                       ; XDP_DROP
out:
    exit
`;

const PARSER = `; Packet parser: walks Ethernet, IPv4 or IPv6, then TCP or UDP, and drops
; TCP to port 23 (telnet) on either IP version. Each header is bounds-checked.
    r2 = *(u32 *)(r1 + 4)        ; data_end
    r1 = *(u32 *)(r1 + 0)        ; data
    r0 = 2                       ; XDP_PASS
    r3 = r1
    r3 += 14
    if r3 > r2 goto out
    r4 = *(u16 *)(r1 + 12)
    r4 = be16 r4                 ; EtherType in host order
    if r4 == 0x86dd goto ipv6
    if r4 != 0x800 goto out
    r5 = r1                      ; IPv4: header length from IHL
    r5 += 34
    if r5 > r2 goto out
    r6 = *(u8 *)(r1 + 23)        ; protocol
    r7 = *(u8 *)(r1 + 14)
    r7 &= 0xf
    r7 <<= 2                     ; IHL * 4: 20..60 bytes
    r3 += r7                     ; r3 = start of the transport header
    goto l4
ipv6:
    r5 = r1
    r5 += 54                     ; Ethernet + 40-byte IPv6 header
    if r5 > r2 goto out
    r6 = *(u8 *)(r1 + 20)        ; next header
    r3 = r5
l4:
    if r6 != 6 goto out          ; TCP only
    r5 = r3
    r5 += 20
    if r5 > r2 goto out
    r4 = *(u16 *)(r3 + 2)        ; destination port
    r4 = be16 r4
    if r4 != 23 goto out
    r0 = 1                       ; XDP_DROP
out:
    exit
`;

const COUNTER = `; Map counter: counts packets per IP protocol (array indexed by protocol).
; Step through it to watch the map change; edit the table before a run.
.map counts array key=4 value=8 entries=256
    r2 = *(u32 *)(r1 + 4)
    r1 = *(u32 *)(r1 + 0)
    r3 = r1
    r3 += 34
    if r3 > r2 goto pass
    r4 = *(u8 *)(r1 + 23)        ; IPv4 protocol
    *(u32 *)(r10 - 4) = r4       ; key on the stack
    r1 = map_fd(counts) ll
    r2 = r10
    r2 += -4
    call bpf_map_lookup_elem
    if r0 == 0 goto pass         ; the verifier insists on this NULL check
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1  ; atomic add
pass:
    r0 = 2
    exit
`;

const REJECTED = `; Rejected by the verifier: the packet is read without a bounds check.
; Verify to see why, then apply the fix: uncomment the line marked FIX.
    r2 = *(u32 *)(r1 + 4)        ; data_end
    r1 = *(u32 *)(r1 + 0)        ; data
    r0 = 2
    r3 = r1
    r3 += 14
;   if r3 > r2 goto out          ; FIX: prove the 14 bytes are in the packet
    r4 = *(u16 *)(r1 + 12)       ; EtherType: invalid access to packet
    if r4 != 0x8 goto out
    r0 = 1
out:
    exit
`;

const LOOP = `; bpf_loop: calls a callback 10 times; the callback adds its index to a
; counter on the caller's stack (r2 of the callback = the context pointer
; passed as bpf_loop's third argument). r0 = 0 + 1 + ... + 9 = 45.
    r6 = 0
    *(u64 *)(r10 - 8) = r6
    r1 = 10                      ; iterations
    r2 = func(add) ll            ; the callback
    r3 = r10
    r3 += -8                     ; its context: the counter
    r4 = 0                       ; flags
    call bpf_loop
    r0 = *(u64 *)(r10 - 8)
    exit
add:
    r3 = *(u64 *)(r2 + 0)
    r3 += r1                     ; r1 = the iteration index
    *(u64 *)(r2 + 0) = r3
    r0 = 0                       ; 0: continue, 1: stop
    exit
`;

const TRACE = `// bpftrace on the VM: BEGIN, interval and END probes run without a kernel.
BEGIN {
  printf("counting\\n");
  @start = nsecs;
}

interval:ms:100 {
  @ticks = count();
  @hist = hist(@ticks_n);
  @ticks_n += 7;
  if (@ticks_n > 30) { exit(); }
}

END {
  printf("done after %d ticks\\n", @ticks_n / 7);
  clear(@start);
}
`;

export const EXAMPLES: readonly Example[] = [
  { id: 'drop', title: 'XDP drop filter (UDP port 9)', mode: 'asm', section: 'xdp', source: DROP_FILTER, packet: DEFAULT_PACKET },
  { id: 'parser', title: 'Packet parser (IPv4/IPv6, TCP/UDP)', mode: 'asm', section: 'xdp', source: PARSER, packet: { ...DEFAULT_PACKET, l3: 'ipv6', src: 'fd00::1', dst: 'fd00::2', l4: 'tcp', dport: 23 } },
  { id: 'counter', title: 'Map counter', mode: 'asm', section: 'xdp', source: COUNTER, packet: DEFAULT_PACKET },
  { id: 'rejected', title: 'Rejected by the verifier, and its fix', mode: 'asm', section: 'xdp', source: REJECTED, packet: DEFAULT_PACKET },
  { id: 'loop', title: 'A loop with bpf_loop', mode: 'asm', section: 'xdp', source: LOOP, packet: DEFAULT_PACKET },
  { id: 'trace', title: 'bpftrace script (BEGIN/interval/END)', mode: 'trace', section: '', source: TRACE },
];
