import { describe, expect, it } from 'vitest';
import { probeKernel } from './probe.js';
import { parseCpuList } from './sys.js';

describe('probeKernel', () => {
  it('reports the features the datapath needs (this project targets kernels that have them all)', () => {
    const f = probeKernel();
    expect(f.privileged).toBe(true);
    expect(f.ringbuf).toBe(true);
    expect(f.btf).toBe(true);
    expect(f.bpfRedirectPeer).toBe(true);
    expect(f.lruHash).toBe(true);
    expect(f.schedCls).toBe(true);
    expect(f.kernelRelease).toMatch(/^\d+\.\d+/);
    expect(probeKernel()).toBe(f);
  });

  it('parses CPU lists', () => {
    expect(parseCpuList('0-1\n')).toBe(2);
    expect(parseCpuList('0')).toBe(1);
    expect(parseCpuList('0-3,8-11,15')).toBe(9);
  });
});
