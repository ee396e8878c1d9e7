// Part of `npm run build`: compiles the use cases' BPF programs
// (examples/{ddos,lb,audit}/*.c) into dist/usecases/, each with the SHA-256
// of its source beside it, so that the published package runs
// `tsbpf xdp-guard`, `tsbpf lb` and `tsbpf audit` on machines without
// clang. Without clang here, it says so and the commands build on first use.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sources = ['ddos/xdp_guard.c', 'lb/xdp_lb.c', 'audit/exec_audit.c'];
const clang = [process.env.TSBPF_CLANG, 'clang-19', 'clang-20', 'clang-18', 'clang'].find((name) => {
  if (!name) return false;
  try {
    return Number(/clang version (\d+)/.exec(execFileSync(name, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))?.[1] ?? 0) >= 18;
  } catch {
    return false;
  }
});
if (!clang) {
  console.warn('build-usecases: no clang 18+ here; the use-case commands will compile their programs on first use');
} else {
  const out = join(root, 'dist', 'usecases');
  mkdirSync(out, { recursive: true });
  const arch = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  for (const relative of sources) {
    const source = join(root, 'examples', relative);
    const object = join(out, `${basename(source, '.c')}.o`);
    const include = existsSync(`/usr/include/${arch}`) ? ['-I', `/usr/include/${arch}`] : [];
    execFileSync(clang, ['-O2', '-g', '-target', 'bpfel', '-mcpu=v3', '-I', dirname(source), ...include, '-c', source, '-o', object], { stdio: 'inherit' });
    writeFileSync(`${object}.sha256`, createHash('sha256').update(readFileSync(source)).digest('hex'));
  }
  console.log(`build-usecases: ${sources.length} programs in dist/usecases/`);
}
