import { describe, expect, it } from 'vitest';
import { containerArgv, IMAGE_TABLE, parseImageRef, resolveImage } from './images.js';

describe('image table', () => {
  it('parses references with registry, tag and digest', () => {
    expect(parseImageRef('quay.io/cilium/cilium:v1.16.0')).toEqual({ repository: 'quay.io/cilium/cilium', tag: 'v1.16.0' });
    expect(parseImageRef('quay.io/cilium/json-mock:v1.3.8@sha256:abc')).toEqual({ repository: 'quay.io/cilium/json-mock', tag: 'v1.3.8@sha256:abc' });
    expect(parseImageRef('byrnedo/alpine-curl:0.1.8')).toEqual({ repository: 'docker.io/byrnedo/alpine-curl', tag: '0.1.8' });
    expect(parseImageRef('busybox')).toEqual({ repository: 'docker.io/library/busybox', tag: 'latest' });
    expect(parseImageRef('localhost:5000/x/y')).toEqual({ repository: 'localhost:5000/x/y', tag: 'latest' });
  });

  it('maps every chart image, any tag', () => {
    for (const img of ['quay.io/cilium/cilium:v1.15.1', 'quay.io/cilium/operator-generic:v1.15.1@sha256:00', 'quay.io/cilium/operator:latest', 'quay.io/cilium/hubble-relay:v1.15.1', 'quay.io/cilium/hubble-ui:v0.13.0', 'quay.io/cilium/hubble-ui-backend:v0.13.0', 'quay.io/cilium/json-mock:v1.3.8', 'quay.io/cilium/alpine-curl:v1.8.0', 'docker.io/byrnedo/alpine-curl:0.1.8']) {
      const r = resolveImage(img);
      expect(r.ok, img).toBe(true);
    }
    const agent = resolveImage('quay.io/cilium/cilium:v1');
    expect(agent.ok && agent.entry.tools.find((t) => t.name === 'cilium-agent')?.target).toBe('repo:bin/cilium-agent');
  });

  it('an unknown image is ErrImagePull with a message naming it', () => {
    const r = resolveImage('docker.io/library/nginx:1.25');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toBe('ErrImagePull');
      expect(r.message).toContain('docker.io/library/nginx');
      expect(r.message).toContain('lab image table');
    }
    const e = resolveImage('');
    expect(e.ok).toBe(false);
  });

  it('computes argv from ENTRYPOINT/CMD and command/args as runtimes do', () => {
    const e = IMAGE_TABLE.find((x) => x.repositories.includes('quay.io/cilium/hubble-relay'))!;
    expect(containerArgv(e, undefined, undefined)).toEqual(['hubble-relay', 'serve']);
    expect(containerArgv(e, undefined, ['serve', '--debug'])).toEqual(['hubble-relay', 'serve', '--debug']);
    expect(containerArgv(e, ['sh', '-c'], ['echo hi'])).toEqual(['sh', '-c', 'echo hi']);
    expect(containerArgv(e, ['sleep'], [])).toEqual(['sleep']);
  });
});
