import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { KernelSymbols } from '../../src/kernel/index.ts';
import { compileScript, runInKernel } from '../../src/trace/index.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { debianTools } from './support.ts';

checkNoKernelLeaks();

/**
 * The tools of Debian's bpftrace 0.17 whose probes exist on this kernel
 * (tracepoints, uprobes, profile: no kprobes), each with what it prints
 * when a small shell activity (an exec, an open, a stat, a name lookup, a sleep, a sync)
 * runs under it. The others attach kprobes, which this kernel lacks
 * (biolatency, capable, tcpconnect...), or name symbols or libraries it
 * does not have (loads: avenrun is not in kallsyms; ssl*: rsa_ossl_public_encrypt; threadsnoop:
 * pthread_create is no longer in libpthread; runqlen: cfs_rq has no
 * nr_running since 6.14).
 */
const RUNNING: Record<string, RegExp> = {
  'bashreadline.bt': /^Tracing bash commands\.\.\. Hit Ctrl-C to end\.\nTIME +PID +COMMAND\n/,
  'bitesize.bt': /^Tracing block device I\/O\.\.\. Hit Ctrl-C to end\.\n/,
  'cpuwalk.bt': /^Sampling CPU at 99hz\.\.\. Hit Ctrl-C to end\.\n\n\n@cpu: \n\[\d/,
  'execsnoop.bt': /^TIME\(ms\) +PID +ARGS\n(.*\n)*\d+ +\d+ +cat \/etc\/hostname\n/,
  'gethostlatency.bt': /^Tracing getaddr\/gethost calls\.\.\. Hit Ctrl-C to end\.\nTIME +PID +COMM +LATms HOST\n(.*\n)*\d\d:\d\d:\d\d +\d+ +getent +\d+ localhost\n/,
  'killsnoop.bt': /^Tracing kill\(\) signals\.\.\. Hit Ctrl-C to end\.\nTIME +PID +COMM +SIG +TPID +RESULT\n/,
  // sleep(1) calls clock_nanosleep, which naptime.bt does not trace.
  'naptime.bt': /^Tracing sleeps\. Hit Ctrl-C to end\.\nTIME +PPID +PCOMM +PID +COMM +SECONDS\n/,
  'opensnoop.bt': /^Tracing open syscalls\.\.\. Hit Ctrl-C to end\.\nPID +COMM +FD +ERR +PATH\n(.*\n)*\d+ +cat +\d+ +0 \/etc\/hostname\n/,
  'pidpersec.bt': /^Tracing new processes\.\.\. Hit Ctrl-C to end\.\n/,
  // END clears @qtime, which prints as an empty line before @usecs.
  'runqlat.bt': /^Tracing CPU scheduler\.\.\. Hit Ctrl-C to end\.\n\n\n\n@usecs: \n\[/,
  'setuids.bt': /^Tracing setuid\(2\) family syscalls\. Hit Ctrl-C to end\.\nTIME +PID +COMM +UID +SYSCALL +ARGS \(RET\)\n/,
  'statsnoop.bt': /^Tracing stat syscalls\.\.\. Hit Ctrl-C to end\.\nPID +COMM +ERR +PATH\n(.*\n)*\d+ +stat +0 \/etc\/hostname\n/,
  'syncsnoop.bt': /^Tracing sync syscalls\.\.\. Hit Ctrl-C to end\.\nTIME +PID +COMM +EVENT\n(.*\n)*\d\d:\d\d:\d\d +\d+ +sync +tracepoint:syscalls:sys_enter_sync\n/,
  'syscount.bt': /^Counting syscalls\.\.\. Hit Ctrl-C to end\.\n\nTop 10 syscalls IDs:\n(@syscall\[\d+\]: \d+\n){10}\nTop 10 processes:\n(@process\[.+\]: \d+\n)+\n/,
  'tcpdrop.bt': /^Tracing tcp drops\. Hit Ctrl-C to end\.\nTIME +PID +COMM +SADDR:SPORT +DADDR:DPORT +STATE/,
  'writeback.bt': /^Tracing writeback\.\.\. Hit Ctrl-C to end\.\nTIME +DEVICE +PAGES +REASON +ms\n/,
};

/**
 * What the tools see: an exec, an open, a stat, a name lookup, a short sleep, a sync, and ~0.2 s on the CPU
 * (cpuwalk samples at 99 Hz only tasks that run: on an idle machine the rest can fall between two samples).
 */
function activity(): Promise<void> {
  return new Promise((resolve, reject) => {
    const busy = 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done';
    const child = spawn('/bin/sh', ['-c', `cat /etc/hostname > /dev/null; stat /etc/hostname > /dev/null; getent ahosts localhost > /dev/null; sleep 0.02; sync; ${busy}`], { stdio: 'ignore' });
    child.on('exit', () => resolve());
    child.on('error', reject);
  });
}

describe('Debian bpftrace 0.17 tools run unchanged', { skip: skipWithoutKernel() }, () => {
  const tools = new Map(debianTools());
  const kernelSymbols = new KernelSymbols();
  for (const [name, expected] of Object.entries(RUNNING)) {
    it(name, async () => {
      const path = tools.get(name);
      assert.ok(path !== undefined, `${name} is not installed (apt-get install bpftrace)`);
      let out = '';
      const compiled = compileScript(readFileSync(path, 'utf8'), { file: name, kernelSymbol: (symbol) => kernelSymbols.address(symbol) });
      await runInKernel(compiled, { write: (t) => void (out += t), format: 'text', startCommand: activity, kernelSymbols });
      const attaching = `Attaching ${compiled.probes.length} probe${compiled.probes.length === 1 ? '' : 's'}...\n`;
      assert.ok(out.startsWith(attaching), out.slice(0, 200));
      assert.match(out.slice(attaching.length), expected);
    });
  }
});
