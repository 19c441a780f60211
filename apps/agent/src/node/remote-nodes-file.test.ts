import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import type { RemoteNode } from './remote-node.js';
import { RemoteNodesFile } from './remote-nodes-file.js';

const dir = mkdtempSync(join(tmpdir(), 'cilium-ts-rnf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const put = (path: string, text: string) => {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
};
const until = async (fn: () => boolean) => {
  for (let i = 0; i < 100 && !fn(); i++) await new Promise((r) => setTimeout(r, 50));
  return fn();
};

describe('RemoteNodesFile', () => {
  it('reads a missing file as no nodes, follows changes, and keeps the last good list over a broken one', async () => {
    const path = join(dir, 'nodes.json');
    const seen: RemoteNode[][] = [];
    const f = new RemoteNodesFile(path, (n) => seen.push(n), createLogger('silent' as 'error'));
    try {
      expect(f.start()).toEqual([]);
      const n2 = { name: 'n2', ip: '192.168.50.2', podCIDRs: ['10.1.2.0/24'] };
      put(path, JSON.stringify([n2]));
      expect(await until(() => seen.length === 1)).toBe(true);
      expect(seen[0]).toEqual([n2]);
      put(path, '[{"name": ');
      put(path, JSON.stringify([n2, { ...n2, name: 'n2' }])); // invalid: listed twice
      await new Promise((r) => setTimeout(r, 300));
      expect(seen).toHaveLength(1);
      put(path, '[]');
      expect(await until(() => seen.length === 2)).toBe(true);
      expect(seen[1]).toEqual([]);
    } finally {
      f.stop();
    }
  });

  it('refuses to start on a file that is not JSON', () => {
    const path = join(dir, 'bad.json');
    writeFileSync(path, 'nodes: n2');
    const f = new RemoteNodesFile(path, () => undefined, createLogger('silent' as 'error'));
    expect(() => f.start()).toThrow(expect.objectContaining({ code: 'NODE_FILE_INVALID' }));
    f.stop();
  });
});
