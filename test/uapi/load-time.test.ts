import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MapType, PAGE_SIZE, loadTimeMaxEntries } from '../../src/uapi/index.ts';

test('max_entries as libbpf creates maps: per-CPU perf arrays, page-aligned power-of-two ring buffers', () => {
  assert.equal(loadTimeMaxEntries(MapType.PERF_EVENT_ARRAY, 0, 6), 6);
  assert.equal(loadTimeMaxEntries(MapType.PERF_EVENT_ARRAY, 2, 6), 2);
  for (const type of [MapType.RINGBUF, MapType.USER_RINGBUF]) {
    assert.equal(loadTimeMaxEntries(type, 0, 1), PAGE_SIZE);
    assert.equal(loadTimeMaxEntries(type, 1000, 1), PAGE_SIZE);
    assert.equal(loadTimeMaxEntries(type, PAGE_SIZE, 1), PAGE_SIZE);
    assert.equal(loadTimeMaxEntries(type, PAGE_SIZE + 1, 1), 2 * PAGE_SIZE);
    assert.equal(loadTimeMaxEntries(type, 3 * PAGE_SIZE, 1), 4 * PAGE_SIZE);
    assert.equal(loadTimeMaxEntries(type, 1 << 24, 1), 1 << 24);
  }
  assert.equal(loadTimeMaxEntries(MapType.HASH, 1000, 4), 1000);
});
