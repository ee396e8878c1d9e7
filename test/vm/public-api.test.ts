import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as vm from '../../src/vm/index.ts';
import * as maps from '../../src/maps/index.ts';
import * as uapi from '../../src/uapi/index.ts';
import { assemble } from '../../src/isa/asm.ts';

// The package's subpath entry points (tsbpf/vm, tsbpf/maps, tsbpf/uapi) must
// be enough to load and run a program on a map without deep imports.
test('tsbpf/vm, tsbpf/maps and tsbpf/uapi are enough to run a program on a map', () => {
  const machine = new vm.Vm();
  const counts = maps.createVmMap(machine.memory, { type: uapi.MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 });
  const program = new vm.VmProgram(
    uapi.ProgramType.XDP,
    assemble(`r1 = 0\n*(u32 *)(r10 - 4) = r1\nr2 = r10\nr2 += -4\nr1 = ${counts.handle} ll\ncall ${uapi.helperId('map_lookup_elem')}\nif r0 == 0 goto +2\nr1 = 1\nlock *(u64 *)(r0 + 0) += r1\nr0 = ${uapi.XdpAction.PASS}\nexit`),
    { vm: machine },
  );
  const result = program.run({ data: new Uint8Array(64), repeat: 3 });
  assert.equal(result.retval, uapi.XdpAction.PASS);
  assert.deepEqual(counts.lookup(new Uint8Array(4)), new Uint8Array([3, 0, 0, 0, 0, 0, 0, 0]));
});
