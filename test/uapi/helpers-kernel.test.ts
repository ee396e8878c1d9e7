// Checks HELPER_AVAILABILITY and gplOnly against the running kernel: for
// each program type, a program calling each helper (arguments all zero) is
// loaded; the verifier either rejects the helper for the type ("program of
// this type cannot use helper") or gets past that point (success, or an
// argument error). Runs only as root with bpf().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipWithoutKernel } from '../support/env.ts';
import { ArgType, HELPERS, HELPER_ATTACH_RESTRICTIONS, TypeFlag, argTypeName, baseType, helperAllowed } from '../../src/uapi/helpers.ts';
import { AttachType, ProgramType, programTypeName } from '../../src/uapi/enums.ts';
import { callHelper, exit, mov64Imm } from '../../src/isa/instruction.ts';
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/**
 * Helpers a kernel has only when built with a config option (the table in
 * src/uapi describes a kernel with all of them): on a kernel whose
 * /proc/config.gz says the option is not set, they are expected missing.
 */
const CONFIG_GATED: Record<string, string[]> = {
  CONFIG_IPV6_SEG6_BPF: ['lwt_seg6_store_bytes', 'lwt_seg6_adjust_srh', 'lwt_seg6_action'],
};
const runningConfig = existsSync('/proc/config.gz') ? gunzipSync(readFileSync('/proc/config.gz')).toString('latin1') : undefined;
const missingHere = new Set(
  Object.entries(CONFIG_GATED)
    .filter(([option]) => runningConfig !== undefined && !new RegExp(`^${option}=[ym]$`, 'm').test(runningConfig))
    .flatMap(([, helpers]) => helpers),
);
/** helperAllowed, for the running kernel's configuration. */
const allowedHere = (type: number, helper: (typeof HELPERS)[number], attach?: number): boolean | undefined => helperAllowed(type, helper.id, attach) && !missingHere.has(helper.name);

/** An expected attach type each program type loads with (the ones the kernel requires one for). */
const LOADABLE: [number, number | undefined][] = [
  [ProgramType.SOCKET_FILTER, undefined], [ProgramType.KPROBE, undefined], [ProgramType.SCHED_CLS, undefined], [ProgramType.SCHED_ACT, undefined],
  [ProgramType.TRACEPOINT, undefined], [ProgramType.XDP, undefined], [ProgramType.PERF_EVENT, undefined], [ProgramType.CGROUP_SKB, undefined],
  [ProgramType.CGROUP_SOCK, AttachType.CGROUP_INET_SOCK_CREATE], [ProgramType.LWT_IN, undefined], [ProgramType.LWT_OUT, undefined],
  [ProgramType.LWT_XMIT, undefined], [ProgramType.SOCK_OPS, undefined], [ProgramType.SK_SKB, undefined], [ProgramType.CGROUP_DEVICE, undefined],
  [ProgramType.SK_MSG, undefined], [ProgramType.RAW_TRACEPOINT, undefined], [ProgramType.CGROUP_SOCK_ADDR, AttachType.CGROUP_INET4_CONNECT],
  [ProgramType.LWT_SEG6LOCAL, undefined], [ProgramType.SK_REUSEPORT, AttachType.SK_REUSEPORT_SELECT_OR_MIGRATE], [ProgramType.FLOW_DISSECTOR, undefined],
  [ProgramType.CGROUP_SYSCTL, undefined], [ProgramType.CGROUP_SOCKOPT, AttachType.CGROUP_SETSOCKOPT], [ProgramType.SK_LOOKUP, AttachType.SK_LOOKUP],
  [ProgramType.NETFILTER, AttachType.NETFILTER],
];

/** The valid expected attach types of the program types with attach-dependent helpers. */
const ATTACH_TYPES: Partial<Record<number, number[]>> = {
  [ProgramType.CGROUP_SOCK_ADDR]: [8, 9, 10, 11, 14, 15, 19, 20, 29, 30, 31, 32, 49, 50, 51, 52, 53],
  [ProgramType.CGROUP_SOCKOPT]: [AttachType.CGROUP_GETSOCKOPT, AttachType.CGROUP_SETSOCKOPT],
};

function program(helper: number) {
  return [mov64Imm(1, 0), mov64Imm(2, 0), mov64Imm(3, 0), mov64Imm(4, 0), mov64Imm(5, 0), callHelper(helper), mov64Imm(0, 0), exit()];
}

test('helper availability per program type matches the running kernel', { skip: skipWithoutKernel() }, async () => {
  const { KernelProgram } = await import('../../src/kernel/program.ts');
  const verdict = (type: number, attach: number | undefined, helper: number, license = 'GPL'): string => {
    try {
      KernelProgram.load({ type, expectedAttachType: attach, instructions: program(helper), license, logLevel: 1 }).close();
      return 'ok';
    } catch (error) {
      const log = (error as { log?: string }).log ?? '';
      if (/cannot use helper/.test(log)) return 'unavailable';
      if (/GPL-restricted/.test(log)) return 'gpl';
      assert.match(log, /call /, `${programTypeName(type)} helper ${helper}: load failed before the call was verified: ${String(error)}`);
      return 'ok';
    }
  };
  const mismatches: string[] = [];
  for (const [type, attach] of LOADABLE) {
    for (const h of HELPERS) {
      const kernel = verdict(type, attach, h.id) === 'ok';
      if (kernel !== allowedHere(type, h, attach)) mismatches.push(`${programTypeName(type)} ${h.name}: kernel ${kernel}`);
    }
  }
  for (const r of HELPER_ATTACH_RESTRICTIONS) {
    for (const attach of ATTACH_TYPES[r.programType]!) {
      const kernel = verdict(r.programType, attach, r.helper) === 'ok';
      if (kernel !== r.attachTypes.includes(attach)) mismatches.push(`${programTypeName(r.programType)} attach ${attach} helper ${r.helper}: kernel ${kernel}`);
    }
  }
  assert.equal(mismatches.length, 0, `${mismatches.length} mismatches:\n${mismatches.join('\n')}`);
  // gpl_only, checked on socket filters / kprobes where the helper exists.
  const gplMismatches: string[] = [];
  for (const h of HELPERS) {
    const type = [ProgramType.KPROBE, ProgramType.SCHED_CLS, ProgramType.SOCKET_FILTER].find((t) => helperAllowed(t, h.id));
    if (type === undefined) continue;
    const restricted = verdict(type, undefined, h.id, 'Proprietary') === 'gpl';
    if (restricted !== h.gplOnly) gplMismatches.push(`${h.name}: kernel gpl_only ${restricted}`);
  }
  assert.deepEqual(gplMismatches, []);
});

/** What the verifier lists as expected register types when an argument of this base type gets a scalar. */
const EXPECTED_TYPES: Partial<Record<number, RegExp>> = {
  [ArgType.PTR_TO_CTX]: /^ctx$/,
  [ArgType.CONST_MAP_PTR]: /^map_ptr$/,
  [ArgType.PTR_TO_FUNC]: /^func$/,
  [ArgType.PTR_TO_MEM]: /^fp, pkt, pkt_meta, map_key, map_value, mem/,
  [ArgType.PTR_TO_MAP_VALUE]: /^map_value$/,
  [ArgType.PTR_TO_RINGBUF_MEM]: /^ringbuf_mem$/,
  [ArgType.PTR_TO_DYNPTR]: /^fp, dynptr_ptr$/,
  [ArgType.PTR_TO_SOCK_COMMON]: /^sock_common, sock, tcp_sock, xdp_sock$/,
  [ArgType.PTR_TO_BTF_ID_SOCK_COMMON]: /^sock_common, sock, tcp_sock, xdp_sock, ptr_/,
  [ArgType.PTR_TO_BTF_ID]: /ptr_/,
  [ArgType.PTR_TO_PERCPU_BTF_ID]: /^percpu_ptr_/,
  [ArgType.PTR_TO_SPIN_LOCK]: /^map_value, ptr_$/,
  [ArgType.KPTR_XCHG_DEST]: /^map_value, ptr_$/,
  [ArgType.PTR_TO_TIMER]: /^map_value$/,
};

/** Argument types a zero scalar satisfies (the verifier moves on to the next argument). */
function acceptsZero(type: number): boolean {
  return type === ArgType.ANYTHING || type === ArgType.CONST_SIZE || type === ArgType.CONST_SIZE_OR_ZERO || type === ArgType.CONST_ALLOC_SIZE_OR_ZERO || (type & TypeFlag.PTR_MAYBE_NULL) !== 0;
}

test('prototypes agree with the running kernel verifier: the first argument refusing 0 and its expected types', { skip: skipWithoutKernel() }, async () => {
  const { KernelProgram } = await import('../../src/kernel/program.ts');
  const mismatches: string[] = [];
  let checked = 0;
  for (const h of HELPERS) {
    if (h.mightSleep) continue; // the sleepable check comes before the arguments
    const entry = LOADABLE.find(([type, attach]) => allowedHere(type, h, attach));
    if (entry === undefined) continue;
    let outcome = 'accepted';
    try {
      KernelProgram.load({ type: entry[0], expectedAttachType: entry[1], instructions: program(h.id), logLevel: 1 }).close();
    } catch (error) {
      const log = (error as { log?: string }).log ?? '';
      outcome = /R(\d) type=scalar expected=(.*)/.exec(log)?.slice(1, 3).join(' ') ?? log.trim().split('\n').at(-2) ?? '';
    }
    const index = h.args.findIndex((a) => !acceptsZero(a.type));
    const match = /^(\d) (.*)$/.exec(outcome);
    const ok = index < 0 ? outcome === 'accepted' : match !== null && Number(match[1]) === index + 1 && (EXPECTED_TYPES[baseType(h.args[index]!.type)]?.test(match[2]!) ?? true);
    // A helper with prototype variants may have got another one for this program type.
    if (!ok && h.variants.length === 0) mismatches.push(`${h.name} (${programTypeName(entry[0])}): predicted ${index < 0 ? 'accepted' : `R${index + 1} ${argTypeName(h.args[index]!.type)}`}, kernel: ${outcome}`);
    checked++;
  }
  assert.ok(checked > 150, `only ${checked} helpers checked`);
  assert.equal(mismatches.length, 0, `${mismatches.length} mismatches:\n${mismatches.join('\n')}`);
});
