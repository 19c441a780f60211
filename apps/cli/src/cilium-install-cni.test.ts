import { mkdtempSync, mkdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync, existsSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installCni, optionsFromEnv, InstallCniError, type InstallCniOptions } from './cilium-install-cni.js';

describe('cilium-install-cni', () => {
  let dir = '';
  let opts: InstallCniOptions;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'install-cni-'));
    const src = join(dir, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'cilium-cni'), '\x7fELF shim', { mode: 0o644 });
    writeFileSync(join(src, 'cilium-cni-node'), '#!/usr/bin/env node\n', { mode: 0o755 });
    opts = optionsFromEnv({ CILIUM_CNI_SRC_DIR: src, CNI_BIN_DIR: join(dir, 'host/opt/cni/bin'), CNI_CONF_DIR: join(dir, 'host/etc/cni/net.d'), CNI_MTU: '1450' }, join(src, 'cilium-cni'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('copies the shim, links the Node plugin, writes the conflist and sets other configs aside', () => {
    mkdirSync(opts.confDir, { recursive: true });
    writeFileSync(join(opts.confDir, '10-bridge.conflist'), '{}');
    writeFileSync(join(opts.confDir, 'README'), 'not a config');
    const r = installCni(opts);
    const shim = join(opts.binDir, 'cilium-cni');
    expect(readFileSync(shim, 'utf8')).toBe('\x7fELF shim');
    expect(statSync(shim).mode & 0o777).toBe(0o755);
    const link = join(opts.binDir, 'cilium-cni-node');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(realpathSync(join(opts.srcDir, 'cilium-cni-node')));
    expect(r.config).toBe(join(opts.confDir, '05-cilium.conflist'));
    const conf = JSON.parse(readFileSync(r.config, 'utf8')) as { name: string; cniVersion: string; plugins: Array<Record<string, unknown>> };
    expect(conf.name).toBe('cilium');
    expect(conf.cniVersion).toBe('1.1.0');
    expect(conf.plugins[0]).toMatchObject({ type: 'cilium-cni', 'socket-path': '/var/run/cilium/cilium.sock', mtu: 1450 });
    expect(r.renamed).toEqual([join(opts.confDir, '10-bridge.conflist')]);
    expect(existsSync(join(opts.confDir, '10-bridge.conflist.cilium_bak'))).toBe(true);
    expect(existsSync(join(opts.confDir, 'README'))).toBe(true);
    // idempotent: a second run (agent restart) replaces in place and renames nothing new
    const again = installCni(opts);
    expect(again.renamed).toEqual([]);
  });

  it('leaves other configs alone when not exclusive', () => {
    mkdirSync(opts.confDir, { recursive: true });
    writeFileSync(join(opts.confDir, '10-bridge.conflist'), '{}');
    const r = installCni({ ...opts, exclusive: false });
    expect(r.renamed).toEqual([]);
    expect(existsSync(join(opts.confDir, '10-bridge.conflist'))).toBe(true);
  });

  it('fails with a code and a hint when the binaries are missing or the env is wrong', () => {
    rmSync(join(opts.srcDir, 'cilium-cni'));
    expect(() => installCni(opts)).toThrow(InstallCniError);
    try {
      installCni(opts);
    } catch (e) {
      expect((e as InstallCniError).code).toBe('CNI_INSTALL_SOURCE_MISSING');
      expect((e as InstallCniError).hint).toMatch(/make build/);
    }
    expect(() => optionsFromEnv({ CNI_MTU: 'big', CILIUM_CNI_SRC_DIR: opts.srcDir }, '/x')).toThrow(/CNI_MTU/);
  });
});
