import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { TraceError, compileScript } from '../../src/trace/index.ts';
import { readUsdtProbes } from '../../src/trace/usdt.ts';

/** Debian's python3 is built with SystemTap probes (`readelf -n /usr/bin/python3`). */
const PYTHON = '/usr/bin/python3';

function requirePython(): string | false {
  if (existsSync(PYTHON)) return false;
  if (process.env.CI === 'true') throw new Error(`CI=true but ${PYTHON} is missing (apt-get install python3)`);
  return `${PYTHON} is missing`;
}

describe('USDT notes', { skip: requirePython() }, () => {
  it('reads providers, names, file offsets, semaphores and argument locations from .note.stapsdt', () => {
    const probes = readUsdtProbes(PYTHON);
    const entry = probes.find((p) => p.provider === 'python' && p.name === 'function__entry');
    assert.ok(entry !== undefined, JSON.stringify(probes.map((p) => p.name)));
    assert.ok(entry.semaphoreOffset !== undefined && entry.semaphoreOffset > entry.offset);
    assert.equal(entry.args.length, 3);
    assert.deepEqual(entry.args.map((a) => [a.size, a.signed]), [[8, false], [8, false], [4, true]]);
    assert.ok(probes.every((p) => p.args.every((a) => a.location.kind !== 'register' || a.location.ptRegsOffset % 8 === 0)));
  });

  it('a binary without the probe, and an argument it does not have, are compile errors', () => {
    assert.throws(() => compileScript('usdt:/bin/sh:python:nope { @ = count(); }'), (e: unknown) => e instanceof TraceError && /\/bin\/sh has no USDT probe python:nope \(it has no \.note\.stapsdt notes\)/.test(e.message));
    assert.throws(() => compileScript(`usdt:${PYTHON}:python:gc__done { @ = arg3; }`), (e: unknown) => e instanceof TraceError && /usdt probe python:gc__done has 1 argument \(arg0-arg0\)/.test(e.message));
  });
});
