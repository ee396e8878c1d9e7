import type { CliCommand } from './command.ts';
import { importEagerlyCompiled } from './eager.ts';

/**
 * Every CLI command, one line each. A command module exports a CliCommand
 * and is loaded only when invoked, so `tsbpf` starts fast whatever the
 * command set grows to.
 */
export const COMMANDS: Record<string, { summary: string; load: () => Promise<CliCommand> }> = {
  'conformance-plugin': { summary: 'run a program for the bpf_conformance runner (hex on stdin, r0 on stdout)', load: async () => (await import('./commands/conformance-plugin.ts')).command },
  asm: { summary: 'assemble BPF assembly (llvm/kernel C-like or uBPF syntax) to bytecode', load: async () => (await import('./commands/asm.ts')).command },
  object: { summary: 'list the programs, maps, variables and relocations of a BPF object', load: async () => (await import('./commands/object.ts')).command },
  disasm: { summary: 'disassemble the linked programs of a BPF object (with source lines) or raw bytecode', load: async () => (await import('./commands/disasm.ts')).command },
  btf: { summary: 'dump BTF (raw file, object .BTF or the kernel) like bpftool, raw or as C / vmlinux.h', load: async () => (await import('./commands/btf.ts')).command },
  verify: { summary: "check programs with tsbpf's verifier (the kernel's rules, log and messages) and explain rejections", load: async () => (await importEagerlyCompiled(() => import('./commands/verify.ts'))).command },
  filter: { summary: "compile a tcpdump filter expression to classic BPF, printed as 'tcpdump -d/-dd/-ddd' (or its eBPF conversion)", load: async () => (await import('./commands/filter.ts')).command },
  run: { summary: 'run an XDP, tc or socket-filter program of an object over a packet or a pcap (VM or kernel)', load: async () => (await import('./commands/run.ts')).command },
  prog: { summary: 'list, show and dump programs loaded in the kernel', load: async () => (await import('./commands/prog.ts')).command },
  map: { summary: 'list maps in the kernel and dump their entries', load: async () => (await import('./commands/map.ts')).command },
  link: { summary: 'list BPF links in the kernel', load: async () => (await import('./commands/link.ts')).command },
  'trace-pipe': { summary: 'print bpf_printk output (tracefs trace_pipe), like bpftool prog tracelog', load: async () => (await import('./commands/trace-pipe.ts')).command },
  gen: { summary: 'generate TypeScript bindings (types and a typed loader) for a BPF object', load: async () => (await import('./commands/gen.ts')).command },
  exporter: { summary: 'serve BPF maps as Prometheus metrics and ring buffers as OpenTelemetry spans (ebpf_exporter configs)', load: async () => (await import('./commands/exporter.ts')).command },
  trace: { summary: 'compile and run a bpftrace script (the bpftrace language, no LLVM): printf, maps, histograms', load: async () => (await import('./commands/trace.ts')).command },
  'xdp-guard': { summary: 'XDP DDoS mitigation: rate limits, allow/deny prefixes, SYN-flood dropping, reloadable config', load: async () => (await import('./commands/xdp-guard.ts')).command },
  lb: { summary: 'XDP L4 load balancer: Maglev hashing, IP-in-IP to backends, backends changed at run time', load: async () => (await import('./commands/lb.ts')).command },
  audit: { summary: 'container exec auditing: execs with argv, user, cgroup and container id matched against rules, as JSON lines', load: async () => (await import('./commands/audit.ts')).command },
  playground: { summary: 'serve the playground: assemble, verify, run and step through BPF programs in the browser', load: async () => (await import('./commands/playground.ts')).command },
  feature: { summary: 'probe the kernel for map types, program types, helpers and link kinds', load: async () => (await import('./commands/feature.ts')).command },
  tool: { summary: 'BCC-style tools (opensnoop, execsnoop, biolatency, tcpconnect, tcplife, syscount, runqlat, offcputime, profile, perfmon, top)', load: async () => (await import('./commands/tool.ts')).command },
  opensnoop: { summary: 'trace open() syscalls: PID, COMM, FD, ERR, PATH (BCC opensnoop)', load: async () => (await import('./commands/tool.ts')).toolCommand('opensnoop') },
  execsnoop: { summary: 'trace exec() syscalls with their full argv (BCC execsnoop)', load: async () => (await import('./commands/tool.ts')).toolCommand('execsnoop') },
  biolatency: { summary: 'block I/O latency as log2 histograms (BCC biolatency)', load: async () => (await import('./commands/tool.ts')).toolCommand('biolatency') },
  tcpconnect: { summary: 'trace TCP connect()s, IPv4 and IPv6 (BCC tcpconnect)', load: async () => (await import('./commands/tool.ts')).toolCommand('tcpconnect') },
  tcplife: { summary: 'TCP sessions with bytes and lifespan when they close (BCC tcplife)', load: async () => (await import('./commands/tool.ts')).toolCommand('tcplife') },
  syscount: { summary: 'count syscalls per syscall or process, with latency (BCC syscount)', load: async () => (await import('./commands/tool.ts')).toolCommand('syscount') },
  runqlat: { summary: 'run queue latency as log2 histograms (BCC runqlat)', load: async () => (await import('./commands/tool.ts')).toolCommand('runqlat') },
  offcputime: { summary: 'off-CPU time per stack trace (BCC offcputime)', load: async () => (await import('./commands/tool.ts')).toolCommand('offcputime') },
  profile: { summary: 'sample on-CPU stacks; folded output and SVG flame graphs (BCC profile)', load: async () => (await import('./commands/tool.ts')).toolCommand('profile') },
  perfmon: { summary: 'per-process CPU, off-CPU and run queue time per interval', load: async () => (await import('./commands/tool.ts')).toolCommand('perfmon') },
  top: { summary: 'loaded BPF programs with run time and run count per second, like top', load: async () => (await import('./commands/tool.ts')).toolCommand('top') },
};
