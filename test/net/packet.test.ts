import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TcpFlag,
  buildPacket,
  decodePacket,
  ethernet,
  formatIpv6,
  icmp,
  icmpv6,
  internetChecksum,
  ipv4,
  ipv6,
  parseIpv6,
  payload,
  tcp,
  udp,
  updateChecksum16,
  updateChecksum32,
  vlan,
} from '../../src/net/index.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(s.replace(/\s+/g, '').match(/../g)!, (b) => parseInt(b, 16));

test('IPv4 header checksum matches the textbook example', () => {
  // The worked example from RFC 1071's discussion (Wikipedia "IPv4 header checksum"): 0xb861.
  const header = hex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
  assert.equal(internetChecksum(header), 0xb861);
  const built = buildPacket(ipv4({ src: '192.168.0.1', dst: '192.168.0.199', flags: 2, ttl: 64, protocol: 17, totalLength: 0x73 }));
  assert.deepEqual(built, hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7'));
});

test('incremental checksum updates equal recomputation (RFC 1624)', () => {
  const packet = buildPacket(ipv4({ src: '10.1.2.3', dst: '10.9.8.7', protocol: 6 }), payload(10));
  const before = (packet[10]! << 8) | packet[11]!;
  packet[8] = 17; // ttl 64 -> 17: the 16-bit word ttl|protocol changes
  const updated = updateChecksum16(before, (64 << 8) | 6, (17 << 8) | 6);
  packet[10] = packet[11] = 0;
  assert.equal(updated, internetChecksum(packet, 0, 20));
  const again = buildPacket(ipv4({ src: '10.1.2.3', dst: '10.9.8.7', protocol: 6 }));
  const old = (again[10]! << 8) | again[11]!;
  const rewritten = buildPacket(ipv4({ src: '172.16.0.1', dst: '10.9.8.7', protocol: 6 }));
  assert.equal(updateChecksum32(old, 0x0a010203, 0xac100001), (rewritten[10]! << 8) | rewritten[11]!);
});

test('layers fill types, lengths and checksums; decodePacket reads them back', () => {
  const frame = buildPacket(
    ethernet({ src: '02:00:00:00:00:aa', dst: 'ff:ff:ff:ff:ff:ff' }),
    vlan({ id: 100, tpid: 0x88a8 }),
    vlan({ id: 200, priority: 5 }),
    ipv4({ src: '10.0.0.1', dst: '10.0.0.2', ttl: 3 }),
    udp({ sport: 1000, dport: 53 }),
    payload('query'),
  );
  assert.equal(frame.length, 14 + 8 + 20 + 8 + 5);
  assert.deepEqual([...frame.subarray(12, 22)], [0x88, 0xa8, 0, 100, 0x81, 0x00, 0xa0, 200, 0x08, 0x00]);
  const d = decodePacket(frame);
  assert.deepEqual(d.vlans, [100, 200]);
  assert.deepEqual(d.ip, { version: 4, src: '10.0.0.1', dst: '10.0.0.2', protocol: 17, ttl: 3, headerLength: 20, checksumValid: true });
  assert.deepEqual(d.transport, { protocol: 'udp', sport: 1000, dport: 53, checksumValid: true });
  assert.equal(d.summary, 'vlan 100,200 IPv4 10.0.0.1.1000 > 10.0.0.2.53 UDP length 55');
  // The UDP checksum over the pseudo-header: verify by hand.
  const udpStart = 14 + 8 + 20;
  const pseudo = Uint8Array.from([10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 13, ...frame.subarray(udpStart)]);
  assert.equal(internetChecksum(pseudo), 0);

  const syn = buildPacket(ethernet(), ipv6({ src: '2001:db8::1', dst: '2001:db8::2' }), tcp({ sport: 4444, dport: 443, flags: TcpFlag.SYN | TcpFlag.ACK, seq: 7 }), payload(3));
  const s = decodePacket(syn);
  assert.equal(s.summary, 'IPv6 2001:db8::1.4444 > 2001:db8::2.443 TCP [S.] length 77');
  assert.equal(s.transport!.checksumValid, true);

  const ping = decodePacket(buildPacket(ethernet(), ipv4(), icmp({ type: 8 }), payload('abcdefgh')));
  assert.deepEqual(ping.transport, { protocol: 'icmp', type: 8, code: 0, checksumValid: true });
  const ping6 = decodePacket(buildPacket(ethernet(), ipv6(), icmpv6(), payload(4)));
  assert.deepEqual(ping6.transport, { protocol: 'icmpv6', type: 128, code: 0, checksumValid: true });

  const corrupt = syn.slice();
  corrupt[corrupt.length - 1] ^= 1;
  assert.equal(decodePacket(corrupt).transport!.checksumValid, false);
  assert.match(decodePacket(syn.subarray(0, 60)).summary, /truncated TCP header/);
  assert.match(decodePacket(new Uint8Array(5)).summary, /shorter than an Ethernet header/);
  assert.equal(decodePacket(buildPacket(ethernet(), ipv4({ checksum: 1 }), udp())).ip!.checksumValid, false);
});

test('bad builder input is a clear error', () => {
  assert.throws(() => buildPacket(ethernet(), payload(3)), /cannot infer the EtherType for a following payload/);
  assert.throws(() => buildPacket(udp()), /needs an IPv4 or IPv6 layer/);
  assert.throws(() => buildPacket(ethernet({ src: 'zz' }), ipv4(), udp()), /not a MAC address/);
  assert.throws(() => buildPacket(ethernet(), ipv4({ src: '1.2.3.256' }), udp()), /not an IPv4 address/);
  assert.throws(() => buildPacket(ethernet(), vlan({ id: 5000 }), ipv4(), udp()), /VLAN id 5000/);
});

test('IPv6 text forms', () => {
  for (const [text, canonical] of [
    ['::', '::'],
    ['::1', '::1'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['fe80::1:2', 'fe80::1:2'],
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
  ]) {
    assert.equal(formatIpv6(parseIpv6(text!)), canonical);
  }
  for (const bad of ['1::2::3', '1:2:3', '12345::', ':::']) assert.throws(() => parseIpv6(bad), /not an IPv6 address/);
});
