import { strict as assert } from 'node:assert';
import { readdirSync, readlinkSync } from 'node:fs';
import { describe, it } from 'node:test';
import { exit, mov64Imm } from '../../src/isa/instruction.ts';
import { KernelProgram, attachTracepoint, closeLinksConcurrently, listIds, openFdCount } from '../../src/kernel/index.ts';
import { ProgramType } from '../../src/uapi/index.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks } from './support.ts';

checkNoKernelLeaks();

/** fds of this process whose target names `kind` (bpf_link, perf_event). */
function openOfKind(kind: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).includes(kind);
    } catch {
      return false;
    }
  }).length;
}

const EVENTS = ['sys_enter_getpid', 'sys_enter_getppid', 'sys_enter_gettid', 'sys_enter_getuid', 'sys_enter_getgid', 'sys_enter_geteuid', 'sys_enter_getegid', 'sys_enter_getpgrp', 'sys_enter_sched_yield', 'sys_enter_sync'];

describe('closeLinksConcurrently', { skip: skipWithoutKernel() }, () => {
  for (const background of [false, true]) {
    it(`detaches every tracepoint link${background ? ', the perf events released in the background' : ' and closes their perf events'}`, async () => {
      const program = KernelProgram.load({ type: ProgramType.TRACEPOINT, instructions: [mov64Imm(0, 0), exit()], license: 'GPL', name: 'detach_test' });
      try {
        const fdsBefore = openFdCount();
        const links = EVENTS.map((e, i) => attachTracepoint(program, 'syscalls', e, BigInt(i)));
        // By id: other processes on the machine may create and close links meanwhile.
        const ours = links.map((l) => l.info().id);
        assert.ok(ours.every((id) => listIds('link').includes(id)));
        await closeLinksConcurrently(links, { releasePerfEventsInBackground: background });
        assert.ok(links.every((l) => l.closed));
        const left = new Set(listIds('link'));
        assert.deepEqual(ours.filter((id) => left.has(id)), [], 'no link is left in the kernel');
        assert.equal(openFdCount(), fdsBefore, 'this process owns none of their fds any more');
        assert.equal(openOfKind('bpf_link') + openOfKind('perf_event'), 0);
      } finally {
        program.close();
      }
    });
  }
});
