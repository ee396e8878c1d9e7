/**
 * tcpdump filters in the kernel: on a veth pair between two namespaces
 * made by the test, packet sockets on the receiving side, one with the
 * classic program (SO_ATTACH_FILTER, which the kernel checks and converts
 * itself) and one with tsbpf's eBPF conversion (SO_ATTACH_BPF), count the
 * frames the VM's filter accepts; the XDP conversion loads in the kernel,
 * its BPF_PROG_TEST_RUN verdicts are the VM's, and attached to the
 * receiving interface it lets through those same frames.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { compileFilter, convertCbpf, encodeCbpf, formatCbpf, PacketFilter } from '../../src/cbpf/index.ts';
import { OwnedFd } from '../../src/kernel/fd.ts';
import { sysBind, sysIfNameToIndex, sysRead, sysSetsockopt, sysSocket, sysWrite } from '../../src/kernel/ffi.ts';
import { attachClassicFilter, attachSocketFilter, attachXdp } from '../../src/kernel/link.ts';
import { withNetworkNamespace } from '../../src/kernel/netns.ts';
import { KernelProgram } from '../../src/kernel/program.ts';
import { ProgramType } from '../../src/uapi/enums.ts';
import { VmProgram } from '../../src/vm/index.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { buildTraffic } from './traffic.ts';

checkNoKernelLeaks();
const kernel = { skip: skipWithoutKernel() };

const AF_PACKET = 17;
const SOCK_RAW_NONBLOCK = 3 | 0o4000;
const ETH_P_ALL = 0x0003;
const SOL_SOCKET = 1;
const SO_RCVBUFFORCE = 33;
const SOL_PACKET = 263;
const PACKET_IGNORE_OUTGOING = 23;

const EXPRESSIONS = ['', 'tcp port 80', 'ip and udp', 'arp or rarp', 'icmp or icmp6', 'tcp[tcpflags] & tcp-syn != 0', 'ip6 and not tcp', 'mpls and ip', 'ether multicast', 'len > 100',
  'host 10.0.0.1 or net 192.168.0.0/16', 'ip[6:2] & 0x1fff != 0', 'portrange 1000-2000 and not udp', 'ether proto 66 or greater 120', 'ip[2:2] - 20 > 40 and ip[0] & 0xf > 5'];

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

/** An AF_PACKET socket bound to `device` (in the current namespace), receiving every protocol. */
function packetSocket(device: string): OwnedFd {
  const socket = new OwnedFd(sysSocket(AF_PACKET, SOCK_RAW_NONBLOCK, ((ETH_P_ALL & 0xff) << 8) | (ETH_P_ALL >> 8)), 'packet socket');
  const address = new Uint8Array(20);
  const view = new DataView(address.buffer);
  view.setUint16(0, AF_PACKET, true);
  view.setUint16(2, ETH_P_ALL, false);
  view.setInt32(4, sysIfNameToIndex(device), true);
  sysBind(socket.fd, address, `packet socket on ${device}`);
  return socket;
}

const int = (n: number): Uint8Array => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setInt32(0, n, true);
  return bytes;
};

/** Sends `frames` on `sender` and counts what each receiving socket gets, until none gets more for 100 ms (after reaching `expected`) or 3 s pass. */
async function sendAndCount(sender: OwnedFd, frames: Uint8Array[], receivers: OwnedFd[], expected: number): Promise<number[]> {
  // Packet sockets start receiving at bind, before a filter is set: drain what slipped in.
  const buffer = new Uint8Array(4096);
  for (const s of receivers) while (sysRead(s.fd, buffer) >= 0);
  for (const frame of frames) sysWrite(sender.fd, frame, 'send a frame on va');
  const counts = receivers.map(() => 0);
  let quiet = 0;
  for (let waited = 0; waited < 3000 && quiet < 5; waited += 20) {
    let got = 0;
    receivers.forEach((s, i) => {
      while (sysRead(s.fd, buffer) >= 0) {
        counts[i]!++;
        got++;
      }
    });
    quiet = got === 0 && counts.every((c) => c >= expected) ? quiet + 1 : 0;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return counts;
}

/** A packet socket on vb with a big receive buffer that ignores what vb sends. */
function receiver(cleanup: Array<{ close(): void }>): OwnedFd {
  const socket = packetSocket('vb');
  cleanup.push(socket);
  sysSetsockopt(socket.fd, SOL_SOCKET, SO_RCVBUFFORCE, int(8 << 20), 'SO_RCVBUFFORCE');
  sysSetsockopt(socket.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, int(1), 'PACKET_IGNORE_OUTGOING');
  return socket;
}

test('a filter expression counts the same packets as kernel socket filters (classic and eBPF) and XDP on a veth pair', { ...kernel, timeout: 120_000 }, async (t) => {
  const a = `tsbpf_cbpf_a${process.pid}`;
  const b = `tsbpf_cbpf_b${process.pid}`;
  t.after(() => {
    for (const ns of [a, b]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  });
  ip('netns', 'add', a);
  ip('netns', 'add', b);
  // No addresses and no IPv6: neither side sends anything of its own that the receiving sockets could count.
  for (const ns of [a, b]) execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  ip('-n', a, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', b);
  ip('-n', a, 'link', 'set', 'va', 'up');
  ip('-n', b, 'link', 'set', 'vb', 'up');
  // The kernel moves 802.1Q tags into skb metadata before packet sockets see a frame, so tagged frames stay out.
  const frames = buildTraffic({ seed: 5, count: 500, vlan: false, runts: false }).map((p) => p.data);
  const sender = withNetworkNamespace(a, () => packetSocket('va'));
  t.after(() => sender.close());

  for (const expression of EXPRESSIONS) {
    const program = compileFilter(expression);
    const vm = new PacketFilter(program);
    const expected = frames.filter((f) => vm.matches(f)).length;
    vm.close();
    const cleanup: Array<{ close(): void }> = [];
    try {
      const [classic, extended] = withNetworkNamespace(b, () => {
        const sockets = [receiver(cleanup), receiver(cleanup)] as const;
        const ebpf = KernelProgram.load({ type: ProgramType.SOCKET_FILTER, name: 'tsbpf_tcpdump', instructions: convertCbpf(program, 'socket') });
        cleanup.push(ebpf);
        cleanup.push(attachClassicFilter(sockets[0].fd, encodeCbpf(program)), attachSocketFilter(ebpf, sockets[1].fd));
        return sockets;
      });
      const counts = await sendAndCount(sender, frames, [classic, extended], expected);
      assert.deepEqual(counts, [expected, expected], `'${expression}': VM ${expected}, SO_ATTACH_FILTER ${counts[0]}, SO_ATTACH_BPF ${counts[1]}\n${formatCbpf(program)}`);
    } finally {
      // Links before the programs and sockets they hold.
      for (const resource of cleanup.reverse()) resource.close();
    }

    // XDP: the kernel's verifier accepts the direct-packet-access form, and its verdicts are the VM's.
    const xdpCode = convertCbpf(program, 'xdp');
    const xdpKernel = KernelProgram.load({ type: ProgramType.XDP, name: 'tsbpf_tcpdump_x', instructions: xdpCode });
    const xdpVm = new VmProgram(ProgramType.XDP, xdpCode);
    try {
      let passed = 0;
      for (const frame of frames) {
        const verdict = xdpKernel.run({ data: frame }).retval;
        assert.equal(xdpVm.run({ data: frame }).retval, verdict, `'${expression}' XDP verdict`);
        if (verdict === 2) passed++;
      }
      assert.equal(passed, expected, `'${expression}': XDP_PASS in the kernel`);
      // Attached to vb (generic mode: it runs before packet sockets see a frame), it lets through what the VM accepts.
      const cleanup: Array<{ close(): void }> = [];
      try {
        const plain = withNetworkNamespace(b, () => {
          const socket = receiver(cleanup);
          cleanup.push(attachXdp(xdpKernel, 'vb', 'generic'));
          return socket;
        });
        const [received] = await sendAndCount(sender, frames, [plain], expected);
        assert.equal(received, expected, `'${expression}': frames past XDP on vb`);
        t.diagnostic(`'${expression}': ${expected} of ${frames.length} frames in the VM, through SO_ATTACH_FILTER, SO_ATTACH_BPF and XDP on vb`);
      } finally {
        for (const resource of cleanup.reverse()) resource.close();
      }
    } finally {
      xdpKernel.close();
      xdpVm.close();
    }
  }
});
