import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** ../shared/conformance beside the clone (always present in CI, maybe absent in a user's clone). */
export const CONFORMANCE_DIR = resolve(ROOT, '..', 'shared', 'conformance', 'tests');

/**
 * The `skip` option for a test that needs something from the environment.
 * Returns false (run) when `reason` is undefined. Under `requiredBy`'s
 * environment variable set to 1 a missing requirement is an error, not a
 * skip: CI sets TSBPF_REQUIRE_KERNEL=1 so kernel tests can never silently
 * not run there.
 */
function skipUnless(reason: string | undefined, requiredBy?: string): string | false {
  if (reason === undefined) return false;
  if (requiredBy !== undefined && process.env[requiredBy] === '1') {
    throw new Error(`${requiredBy}=1 but this test cannot run: ${reason}`);
  }
  return reason;
}

function kernelUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `the kernel backend needs Linux (this is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'kernel tests need root (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN)';
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'the kernel has no BTF (/sys/kernel/btf/vmlinux missing)';
  return undefined;
}

/** `skip` for tests that need bpf() as root. Fails instead under TSBPF_REQUIRE_KERNEL=1. */
export function skipWithoutKernel(): string | false {
  return skipUnless(kernelUnavailableReason(), 'TSBPF_REQUIRE_KERNEL');
}

/** `skip` for tests that read ../shared/conformance. Fails instead in CI (CI=true), where it is always present. */
export function skipWithoutConformance(): string | false {
  const reason = existsSync(CONFORMANCE_DIR) ? undefined : `conformance vectors not found at ${CONFORMANCE_DIR}`;
  if (reason !== undefined && process.env.CI === 'true') throw new Error(`CI=true but ${reason}`);
  return skipUnless(reason);
}

let clangPath: string | null | undefined;

/** clang able to target BPF with -mcpu=v4 (clang 18 or newer), or undefined. */
export function findClang(): string | undefined {
  if (clangPath === undefined) {
    clangPath = null;
    for (const name of [process.env.TSBPF_CLANG, 'clang-19', 'clang-20', 'clang-18', 'clang']) {
      if (!name) continue;
      try {
        const out = execFileSync(name, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        const major = Number(/clang version (\d+)/.exec(out)?.[1] ?? 0);
        if (major >= 18) {
          clangPath = name;
          break;
        }
      } catch {
        // not installed under this name
      }
    }
  }
  return clangPath ?? undefined;
}

/** `skip` for tests that compile C to BPF (clang and libbpf's headers). Fails instead in CI, which installs both. */
export function skipWithoutClang(): string | false {
  const reason = !findClang()
    ? 'no clang >= 18 with the BPF target (apt-get install clang-19)'
    : !existsSync('/usr/include/bpf/bpf_helpers.h')
      ? 'libbpf headers missing (apt-get install libbpf-dev)'
      : undefined;
  if (reason !== undefined && process.env.CI === 'true') throw new Error(`CI=true but ${reason}`);
  return skipUnless(reason);
}

export const fixturePath = (...parts: string[]): string => join(ROOT, 'test', 'fixtures', ...parts);

/**
 * `skip` for tests that compare with a command-line tool (bpftool, ...).
 * Fails instead in CI (CI=true), which installs the tools: a comparison that
 * silently stops running proves nothing.
 */
export function skipWithoutCommand(command: string, installHint: string): string | false {
  let reason: string | undefined;
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore' });
  } catch (error) {
    // A tool that runs but rejects --version still exists; only a missing binary counts.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') reason = `${command} not installed (${installHint})`;
  }
  if (reason !== undefined && process.env.CI === 'true') throw new Error(`CI=true but ${reason}`);
  return skipUnless(reason);
}

