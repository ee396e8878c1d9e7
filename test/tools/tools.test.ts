import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  type ExecEvent,
  type OpenEvent,
  biolatency,
  bpfTop,
  execsnoop,
  execsnoopHeader,
  offcputime,
  opensnoop,
  opensnoopHeader,
  perfmon,
  profile,
  runqlat,
  syscount,
  tcpconnect,
  tcpconnectHeader,
  tcplife,
  flameGraphSvg,
  type TopSnapshot,
} from '../../src/tools/index.ts';
import { command as toolCommand } from '../../src/cli/commands/tool.ts';
import { foldedLine } from '../../src/tools/stacks.ts';
import { cgroup2Mount, listIds, programInfo, withObjectFd } from '../../src/kernel/index.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { ROOT, skipWithoutKernel } from '../support/env.ts';
import { type Workload, removeWorkload, startWorkload } from './support.ts';

checkNoKernelLeaks();
after(removeWorkload);
const skip = skipWithoutKernel();

/** Collects events from `events` until `until` says enough (or the tool's duration ends). */
async function collect<T>(events: AsyncIterable<T>, until: (seen: T[]) => boolean): Promise<T[]> {
  const seen: T[] = [];
  for await (const e of events) {
    seen.push(e);
    if (until(seen)) break;
  }
  return seen;
}

describe('tools in the kernel', { skip }, () => {
  test('opensnoop: the opens this test makes, with fd or errno, and BCC\'s header', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbpf-opensnoop-'));
    const present = join(dir, 'present.txt');
    const missing = join(dir, 'missing.txt');
    writeFileSync(present, 'x');
    try {
      const events = await collect(
        opensnoop({
          pid: process.pid,
          duration: 10,
          onReady: () => {
            closeSync(openSync(present, 'r'));
            assert.throws(() => openSync(missing, 'r'));
          },
        }),
        (seen) => seen.some((e) => e.path === missing),
      );
      const opened = events.find((e) => e.path === present) as OpenEvent;
      assert.ok(opened, 'the successful open is reported');
      assert.ok(opened.fd >= 0 && opened.errno === 0 && opened.pid === process.pid);
      const failed = events.find((e) => e.path === missing) as OpenEvent;
      assert.equal(failed.fd, -1);
      assert.equal(failed.errno, 2);
      assert.equal(opensnoopHeader(false, false), 'PID    COMM               FD ERR PATH\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('execsnoop: full argv, ppid and result; failed execs only with includeFailed; --cgroup keeps only that cgroup', async () => {
    const marker = `tsbpf-exec-${process.pid}`;
    const argv = ['/bin/echo', marker, 'two words', '--flag=3'];
    const events = await collect(
      execsnoop({
        includeFailed: true,
        duration: 10,
        onReady: () => {
          spawnSync(argv[0]!, argv.slice(1));
          spawnSync(`/nonexistent/${marker}`);
        },
      }),
      (seen) => seen.filter((e) => e.argv.includes(marker) || e.argv[0]?.includes(marker)).length >= 2,
    );
    const ok = events.find((e) => e.argv[1] === marker) as ExecEvent;
    assert.deepEqual(ok.argv, argv);
    assert.equal(ok.ret, 0);
    assert.equal(ok.ppid, process.pid);
    assert.equal(ok.comm, 'echo');
    const failed = events.find((e) => e.argv[0] === `/nonexistent/${marker}`) as ExecEvent;
    assert.equal(failed.ret, -2);
    assert.equal(execsnoopHeader(false, false, false), 'PCOMM            PID    PPID   RET ARGS\n');

    // A forked child exec'ing with string literals: the arguments come whole from the new image.
    const work = startWorkload('exec', '1');
    const forked = await collect(execsnoop({ duration: 10, onReady: () => work.release() }), (seen) => seen.some((e) => e.ppid === work.pid));
    await work.finished;
    assert.deepEqual(forked.find((e) => e.ppid === work.pid)?.argv, ['echo', 'tsbpf-literal-arg']);

    const cgroup = join(cgroup2Mount(), `tsbpf-execsnoop-${process.pid}`);
    mkdirSync(cgroup);
    try {
      const inside = `${marker}-inside`;
      const outside = `${marker}-outside`;
      const seen = await collect(
        execsnoop({
          cgroup,
          duration: 10,
          onReady: () => {
            spawnSync('/bin/sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec /bin/echo ${inside}`]);
            spawnSync('/bin/echo', [outside]);
            spawnSync('/bin/sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec /bin/echo ${inside}-2`]);
          },
        }),
        (s) => s.some((e) => e.argv[1] === `${inside}-2`),
      );
      assert.deepEqual(
        seen.map((e) => e.argv[1]),
        [inside, `${inside}-2`],
      );
    } finally {
      rmdirSync(cgroup);
    }
  });

  test('biolatency: O_DIRECT writes to a loop device are counted on that disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbpf-biolatency-'));
    const image = join(dir, 'disk.img');
    writeFileSync(image, new Uint8Array(4 << 20));
    const device = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
    try {
      const writes = 64;
      const histograms = await collect(
        biolatency({
          perDisk: true,
          count: 1,
          interval: 30,
          duration: 3,
          onReady: () => {
            execFileSync('dd', ['if=/dev/zero', `of=${device}`, 'bs=4096', `count=${writes}`, 'oflag=direct'], { stdio: 'ignore' });
          },
        }),
        () => true,
      );
      const disk = histograms[0]!.find((h) => h.disk === device.replace('/dev/', ''));
      assert.ok(disk, `a histogram for ${device}: ${JSON.stringify(histograms[0]!.map((h) => h.disk))}`);
      assert.equal(disk.unit, 'usecs');
      assert.equal(disk.total, writes);
      assert.equal(disk.buckets.reduce((sum, b) => sum + b.count, 0), writes);
    } finally {
      execFileSync('losetup', ['-d', device]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('tcpconnect and tcplife: connections to 127.0.0.1 and ::1 listeners', async () => {
    const servers: Server[] = [];
    const listen = (host: string): Promise<number> =>
      new Promise((resolve) => {
        const server = createServer((socket) => {
          socket.on('data', () => undefined);
          socket.end(Buffer.alloc(3000, 1));
        });
        servers.push(server);
        server.listen(0, host, () => resolve((server.address() as { port: number }).port));
      });
    const talk = (host: string, port: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const socket = connect(port, host);
        socket.on('error', reject);
        socket.on('connect', () => socket.write(Buffer.alloc(5000, 2)));
        socket.on('data', () => undefined);
        socket.on('end', () => socket.end());
        socket.on('close', () => resolve());
      });
    try {
      const port4 = await listen('127.0.0.1');
      const port6 = await listen('::1');
      let talked: Promise<void> = Promise.resolve();
      const connects = await collect(
        tcpconnect({ pid: process.pid, ports: [port4, port6], duration: 10, onReady: () => (talked = talk('127.0.0.1', port4).then(() => talk('::1', port6))) }),
        (seen) => seen.length >= 2,
      );
      await talked;
      assert.deepEqual(
        connects.map((c) => [c.ipVersion, c.daddr, c.dport, c.pid]),
        [
          [4, '127.0.0.1', port4, process.pid],
          [6, '::1', port6, process.pid],
        ],
      );
      assert.equal(tcpconnectHeader(false, false, false), 'PID    COMM         IP SADDR            DADDR            DPORT\n');

      const sessions = await collect(tcplife({ remotePorts: [port4], duration: 10, onReady: () => (talked = talk('127.0.0.1', port4)) }), (seen) => seen.length >= 1);
      await talked;
      const [client] = sessions;
      assert.equal(client!.rport, port4);
      assert.equal(client!.pid, process.pid);
      // bytes_acked and bytes_received, as BCC reads them, count the SYN and FIN when they were acknowledged before the close.
      assert.ok(client!.txBytes >= 5000n && client!.txBytes <= 5002n, `${client!.txBytes} bytes sent`);
      assert.ok(client!.rxBytes >= 3000n && client!.rxBytes <= 3001n, `${client!.rxBytes} bytes received`);
      assert.ok(client!.durationMs > 0);
    } finally {
      for (const s of servers) s.close();
    }
  });

  test('syscount: exactly the getppid calls of a workload, by syscall and by process', async () => {
    const calls = 1000;
    for (const byProcess of [false, true]) {
      const work = startWorkload('getppid', String(calls));
      const [interval] = await collect(syscount({ pid: work.pid, byProcess, latency: true, signal: stopWhenDone(work), duration: 30, onReady: () => work.release() }), () => true);
      const row = interval!.rows.find((r) => (byProcess ? r.key === work.pid : r.name === 'getppid'));
      if (byProcess) {
        assert.equal(row?.name, 'workload');
        assert.ok(row!.count >= calls, `${row!.count} syscalls by the workload`);
      } else assert.equal(row?.count, calls);
      assert.ok(row!.totalNs > 0);
    }
  });

  test('runqlat and perfmon: a workload that sleeps and spins shows run-queue waits, CPU and off-CPU time', async () => {
    const sleeper = startWorkload('sleep', '50', '2');
    const [histograms] = await collect(runqlat({ pid: sleeper.pid, perProcess: true, signal: stopWhenDone(sleeper), duration: 30, onReady: () => sleeper.release() }), () => true);
    const mine = histograms!.find((h) => h.id === sleeper.pid);
    assert.ok(mine, 'a histogram for the workload');
    assert.equal(mine.comm, 'workload');
    // Each of the 50 wakeups waits on a run queue once (plus the start).
    assert.ok(mine.total >= 50, `${mine.total} run-queue waits`);
    assert.equal(mine.buckets[0]!.low, 0);

    const mixed = startWorkload('mixed', '400');
    const [summary] = await collect(perfmon({ pid: mixed.pid, signal: stopWhenDone(mixed), duration: 30, onReady: () => mixed.release() }), () => true);
    const process_ = summary!.processes.find((p) => p.pid === mixed.pid);
    assert.ok(process_, 'a summary for the workload');
    assert.ok(process_.onCpuMs >= 300, `on CPU ${process_.onCpuMs} ms of a 400 ms spin`);
    assert.ok(process_.offCpuMs >= 350, `off CPU ${process_.offCpuMs} ms of a 400 ms sleep`);
    assert.ok(process_.runqCount >= 1);
  });

  test('examples/perfmon.ts (the performance-monitoring use case) prints per-process summaries', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'examples/perfmon.ts', '0.5', '1', '1000000'], { cwd: ROOT, encoding: 'utf8' });
    const lines = out.trim().split('\n');
    assert.match(lines[0]!, /^--- 0\.\d\d s, \d+ processes ran$/);
    assert.ok(lines.length >= 2, out);
    for (const line of lines.slice(1)) assert.match(line, /^\d+ +.+ cpu +[\d.]+% {2}blocked +\d+ ms {2}run-queue avg +\d+ us, max \d+ us$/);
  });

  test('offcputime: the sleeps of a workload under nanosleep, in microseconds', async () => {
    const work = startWorkload('sleep', '20', '10');
    const samples = await offcputime({ pid: work.pid, signal: stopWhenDone(work), duration: 30, onReady: () => work.release() });
    const sleeping = samples.filter((s) => s.kernelStack?.some((f) => f.includes('nanosleep')));
    const total = sleeping.reduce((sum, s) => sum + s.value, 0);
    assert.ok(total >= 180_000, `${total} us asleep in nanosleep, expected ~200000`);
    assert.ok(sleeping.every((s) => s.comm === 'workload' && s.tgid === work.pid));
  });

  test('profile and the flame graph: the workload\'s hot function is sampled, named from its ELF symbols and drawn in the SVG', async () => {
    const work = startWorkload('spin', '1500');
    const samples = await profile({ pid: work.pid, frequency: 199, signal: stopWhenDone(work), duration: 30, onReady: () => work.release() });
    const format = { userOnly: false, kernelOnly: false, delimited: false };
    const folded = samples.map((s) => foldedLine(s, format));
    const hot = samples.filter((s) => s.userStack?.[0] === 'tsbpf_hot_spin' || s.userStack?.includes('tsbpf_hot_spin'));
    const hotSamples = hot.reduce((sum, s) => sum + s.value, 0);
    const allSamples = samples.reduce((sum, s) => sum + s.value, 0);
    assert.ok(hotSamples >= allSamples / 2, `${hotSamples} of ${allSamples} samples in tsbpf_hot_spin`);
    assert.ok(folded.some((line) => /^workload;.*main;tsbpf_hot_spin/.test(line)), folded.join('\n'));
    const svg = flameGraphSvg(folded);
    assert.match(svg, /<title>tsbpf_hot_spin \(\d+ samples, [\d.]+%\)<\/title>/);
    assert.match(svg, /^<\?xml/);
  });

  test('top: a loaded tool program shows its runs per second; statistics are switched off again', async () => {
    const marker = join(tmpdir(), `tsbpf-top-${process.pid}`);
    const events = opensnoop({ pid: process.pid, duration: 20 });
    const first = events.next();
    const snapshots: TopSnapshot[] = [];
    const opener = setInterval(() => {
      try {
        openSync(marker, 'r');
      } catch {
        // ENOENT: still an openat that the program counts
      }
    }, 5);
    try {
      for await (const snapshot of bpfTop({ delay: 0.5, iterations: 1 })) snapshots.push(snapshot);
    } finally {
      clearInterval(opener);
      await events.return(undefined);
      void first;
    }
    const program = snapshots[0]!.programs.find((p) => p.name === 'exit_openat');
    assert.ok(program, 'the tool\'s exit_openat program is listed');
    assert.equal(program.type, 'tracepoint');
    assert.ok(program.runsPerSecond > 10, `${program.runsPerSecond} runs/s`);
    assert.ok(program.runTimeNsPerSecond > 0);
  });

  test('Ctrl-C: tsbpf execsnoop and tsbpf runqlat stop on SIGINT, runqlat prints its histogram, and their programs are gone', async () => {
    const firstId = Math.max(0, ...listIds('prog'));
    for (const [tool, expect] of [
      ['execsnoop', /^PCOMM {12}PID {4}PPID {3}RET ARGS$/m],
      ['runqlat', /usecs +: count {5}distribution/],
    ] as const) {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', tool], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      await new Promise<void>((resolve) =>
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (/PCOMM|Tracing/.test(out)) resolve();
        }),
      );
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGINT');
      assert.equal(await exited, 0, `${tool} exits 0 on SIGINT`);
      assert.match(out, expect);
    }
    const toolPrograms = new Set(['enter_execve', 'on_exec', 'exit_execve', 'on_wakeup', 'on_wakeup_new', 'on_switch']);
    const ours = (): number[] => listIds('prog').filter((id) => id > firstId && toolPrograms.has(withObjectFd('prog', id, (fd) => programInfo(fd).name) ?? ''));
    // The kernel frees programs after an RCU grace period.
    for (let attempt = 0; attempt < 40 && ours().length > 0; attempt++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(ours(), []);
  });

  test('CLI: tsbpf tool opensnoop prints the header, the events and stops after -d', async () => {
    const out: string[] = [];
    const io = { stdout: (t: string) => void out.push(t), stderr: (t: string) => void out.push(t), stdin: () => Promise.resolve(new Uint8Array()) };
    const marker = join(tmpdir(), `tsbpf-cli-${process.pid}`);
    const opener = setInterval(() => assert.throws(() => openSync(marker, 'r')), 20);
    try {
      assert.equal(await toolCommand.run(['opensnoop', '-x', '-p', String(process.pid), '-d', '1'], io), 0);
    } finally {
      clearInterval(opener);
    }
    const lines = out.join('').split('\n');
    assert.equal(lines[0], 'PID    COMM               FD ERR PATH');
    assert.ok(lines.some((l) => l.startsWith(String(process.pid).padEnd(6)) && l.endsWith(` -1   2 ${marker}`)), lines.slice(0, 5).join('\n'));
    out.length = 0;
    assert.equal(await toolCommand.run(['opensnoop', '--json', '-x', '-p', String(process.pid), '-d', '0.5'], io), 0);
    out.length = 0;
    assert.equal(await toolCommand.run(['execsnoop', '--help'], io), 0);
    assert.match(out.join(''), /--cgroup PATH/);

    // profile -f --svg: folded lines on stdout, the flame graph in the file.
    const svg = join(tmpdir(), `tsbpf-profile-${process.pid}.svg`);
    const work = startWorkload('spin', '800');
    let released = false;
    const started = setTimeout(() => {
      released = true;
      work.release();
    }, 200);
    try {
      out.length = 0;
      assert.equal(await toolCommand.run(['profile', '-F', '99', '-p', String(work.pid), '-f', '--svg', svg, '1'], io), 0);
      assert.match(out.join(''), /^workload;.*tsbpf_hot_spin.* \d+$/m);
      assert.match(readFileSync(svg, 'utf8'), /<title>tsbpf_hot_spin \(\d+ samples/);
    } finally {
      clearTimeout(started);
      rmSync(svg, { force: true });
      if (!released) work.child.kill();
      await work.finished;
    }
    out.length = 0;
    assert.equal(await toolCommand.run(['execsnoop', '--help'], io), 0);
    assert.match(out.join(''), /--cgroup PATH/);
  });
});

/** A signal that stops a tool once the workload has exited (its last events are then in the maps). */
function stopWhenDone(work: Workload): AbortSignal {
  const controller = new AbortController();
  void work.finished.then(() => controller.abort());
  return controller.signal;
}
