// Performance monitoring: per-process CPU time, off-CPU time and run-queue
// latency over fixed intervals (tsbpf/tools' perfmon), with a simple alert
// on processes that waited long for a CPU. Needs root.
//
//   sudo node --import tsx examples/perfmon.ts [interval-seconds=1] [count=3] [runq-alert-us=5000]
import { perfmon } from '../src/tools/index.ts';

const interval = Number(process.argv[2] ?? 1);
const count = Number(process.argv[3] ?? 3);
const alertUs = Number(process.argv[4] ?? 5000);

for await (const summary of perfmon({ interval, count })) {
  const busiest = summary.processes.slice(0, 5);
  console.log(`--- ${summary.seconds.toFixed(2)} s, ${summary.processes.length} processes ran`);
  for (const p of busiest) {
    const cpuShare = (100 * p.onCpuMs) / (summary.seconds * 1000);
    console.log(`${String(p.pid).padEnd(7)} ${p.comm.padEnd(16)} cpu ${cpuShare.toFixed(1).padStart(5)}%  blocked ${p.offCpuMs.toFixed(0).padStart(6)} ms  run-queue avg ${p.runqAvgUs.toFixed(0).padStart(5)} us, max ${p.runqMaxUs.toFixed(0)} us`);
  }
  for (const p of summary.processes.filter((x) => x.runqMaxUs > alertUs)) {
    console.log(`ALERT ${p.comm} (${p.pid}) waited ${(p.runqMaxUs / 1000).toFixed(1)} ms for a CPU`);
  }
}
