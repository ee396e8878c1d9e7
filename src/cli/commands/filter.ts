/**
 * `tsbpf filter`: compiles a pcap-filter expression (tcpdump's language)
 * and prints the classic program as `tcpdump -d/-dd/-ddd` does, or its
 * eBPF conversion (socket filter or XDP).
 */
import { compileFilter, convertCbpf, FilterLinkType, formatCbpf, type ListingFormat } from '../../cbpf/index.ts';
import { disassemble } from '../../isa/index.ts';
import { type CliCommand, type CliIo, UsageError, parseArguments } from '../command.ts';

const usage = `usage: tsbpf filter 'EXPRESSION' [-d|-dd|-ddd] [-O] [--linktype EN10MB|RAW]
                    [--ebpf socket|xdp] [-s SNAPLEN]

Compiles a pcap-filter(7) expression, as tcpdump and libpcap do (with
libpcap's optimiser), and prints the classic BPF program.

  -d              the listing of 'tcpdump -d' (default)
  -dd             C array initialisers, as 'tcpdump -dd'
  -ddd            decimal, count first, as 'tcpdump -ddd'
  -O              do not optimise (tcpdump -O)
  --linktype T    EN10MB (Ethernet, default) or RAW (packets start at the
                  IP header); also the numbers 1 and 101
  --ebpf T        print the kernel's eBPF conversion instead: 'socket'
                  (LD_ABS/LD_IND, as SO_ATTACH_FILTER runs it) or 'xdp'
                  (direct packet access, XDP_PASS/XDP_DROP)
  -s SNAPLEN      the value accepted packets return (default 262144)

  tsbpf filter 'tcp port 80 and host 10.0.0.1' -d
  tsbpf filter 'ip[2:2] > 576' --ebpf xdp
`;

const LINK_TYPES: Readonly<Record<string, number>> = { en10mb: FilterLinkType.EN10MB, ethernet: FilterLinkType.EN10MB, '1': FilterLinkType.EN10MB, raw: FilterLinkType.RAW, '101': FilterLinkType.RAW };

async function run(args: string[], io: CliIo): Promise<number> {
  let format: ListingFormat = 'd';
  let optimize = true;
  let linkType: number = FilterLinkType.EN10MB;
  let ebpf: 'socket' | 'xdp' | undefined;
  let snaplen = 262144;
  const words = parseArguments(args, (arg, value) => {
    if (arg === '-d' || arg === '-dd' || arg === '-ddd') format = arg.slice(1) as ListingFormat;
    else if (arg === '-O') optimize = false;
    else if (arg === '--linktype') {
      const v = value();
      const lt = LINK_TYPES[v.toLowerCase()];
      if (lt === undefined) throw new UsageError(`--linktype is EN10MB or RAW, got '${v}'`);
      linkType = lt;
    } else if (arg === '--ebpf') {
      const v = value();
      if (v !== 'socket' && v !== 'xdp') throw new UsageError(`--ebpf is socket or xdp, got '${v}'`);
      ebpf = v;
    } else if (arg === '-s') {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 0xffffffff) throw new UsageError(`-s must be a positive 32-bit number, got '${v}'`);
      snaplen = Number(v);
    } else return false;
    return true;
  });
  if (words.length === 0) throw new UsageError('missing the filter expression');
  const expression = words.join(' ');
  const program = compileFilter(expression, { optimize, linkType, snaplen });
  if (ebpf !== undefined) {
    const listing = disassemble(convertCbpf(program, ebpf));
    io.stdout(listing.endsWith('\n') ? listing : `${listing}\n`);
    return 0;
  }
  io.stdout(formatCbpf(program, format));
  return 0;
}

export const command: CliCommand = {
  name: 'filter',
  summary: "compile a tcpdump filter expression to classic BPF, printed as 'tcpdump -d/-dd/-ddd' (or its eBPF conversion)",
  usage,
  run,
};
