; XDP program: drop IPv4 UDP datagrams sent to port 9 (discard), pass the rest.
; The syntax is llvm-objdump's and the kernel verifier log's.
    r2 = *(u32 *)(r1 + 4)       ; ctx->data_end
    r1 = *(u32 *)(r1 + 0)       ; ctx->data
    r3 = r1
    r3 += 42                    ; Ethernet (14) + IPv4 (20) + UDP (8)
    if r3 > r2 goto pass        ; the bounds check the verifier requires
    r4 = *(u16 *)(r1 + 12)      ; EtherType, network byte order
    if r4 != 0x8 goto pass      ; 0x0800 read little-endian
    r4 = *(u8 *)(r1 + 14)
    r4 &= 0xf
    if r4 != 5 goto pass        ; IPv4 header without options
    r4 = *(u8 *)(r1 + 23)       ; protocol
    if r4 != 17 goto pass       ; UDP
    r4 = *(u16 *)(r1 + 36)      ; destination port
    if r4 != 0x900 goto pass    ; port 9 read little-endian
    r0 = 1                      ; XDP_DROP
    exit
pass:
    r0 = 2                      ; XDP_PASS
    exit
