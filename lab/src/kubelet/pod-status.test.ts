import { describe, expect, it } from 'vitest';
import { buildPodStatus, podPhase, statusFingerprint, type ContainerRecord } from './pod-status.js';

const T = '2026-01-01T00:00:00Z';
const running = (name: string, ready = true): ContainerRecord => ({ name, image: 'i', imageID: 'i@sha256:0', containerID: 'lab://1', restartCount: 0, ready, started: true, state: { kind: 'running', startedAt: T } });
const exited = (name: string, exitCode: number): ContainerRecord => ({ name, image: 'i', imageID: '', restartCount: 0, ready: false, started: false, state: { kind: 'terminated', t: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: T, finishedAt: T } } });
const waiting = (name: string, reason: string, last?: number): ContainerRecord => ({
  name, image: 'i', imageID: '', restartCount: last === undefined ? 0 : 1, ready: false, started: false, state: { kind: 'waiting', reason },
  ...(last === undefined ? {} : { lastTermination: { exitCode: last, reason: 'Error', startedAt: T, finishedAt: T } }),
});

describe('pod phase (kubelet getPhase)', () => {
  it('follows init containers, waiting, running and the restart policy', () => {
    expect(podPhase({ restartPolicy: 'Always', init: [waiting('i', 'PodInitializing')], containers: [waiting('c', 'PodInitializing')] })).toBe('Pending');
    expect(podPhase({ restartPolicy: 'Never', init: [exited('i', 1)], containers: [waiting('c', 'PodInitializing')] })).toBe('Failed');
    expect(podPhase({ restartPolicy: 'Always', init: [exited('i', 0)], containers: [running('c')] })).toBe('Running');
    expect(podPhase({ restartPolicy: 'Always', init: [], containers: [waiting('c', 'ErrImagePull')] })).toBe('Pending');
    expect(podPhase({ restartPolicy: 'Always', init: [], containers: [waiting('c', 'CrashLoopBackOff', 1)] })).toBe('Running');
    expect(podPhase({ restartPolicy: 'Never', init: [], containers: [exited('c', 0)] })).toBe('Succeeded');
    expect(podPhase({ restartPolicy: 'Never', init: [], containers: [exited('c', 0), exited('d', 2)] })).toBe('Failed');
    expect(podPhase({ restartPolicy: 'OnFailure', init: [], containers: [exited('c', 0)] })).toBe('Succeeded');
    expect(podPhase({ restartPolicy: 'Never', init: [], containers: [running('c'), exited('d', 2)] })).toBe('Running');
  });
});

describe('pod status', () => {
  const base = { restartPolicy: 'Always', init: [], sandboxReady: true, podIPs: ['10.0.0.5'], hostIP: '172.30.0.2', startTime: T, now: T, previous: undefined };

  it('Ready when every container is ready; pod IPs and host IP set', () => {
    const s = buildPodStatus({ ...base, containers: [running('a'), running('b')] });
    expect(s['phase']).toBe('Running');
    expect(s['podIP']).toBe('10.0.0.5');
    expect(s['podIPs']).toEqual([{ ip: '10.0.0.5' }]);
    expect(s['hostIP']).toBe('172.30.0.2');
    const c = s['conditions'] as Array<{ type: string; status: string }>;
    expect(Object.fromEntries(c.map((x) => [x.type, x.status]))).toEqual({ PodReadyToStartContainers: 'True', Initialized: 'True', ContainersReady: 'True', Ready: 'True', PodScheduled: 'True' });
  });

  it('names the unready containers; ErrImagePull shows in the container status', () => {
    const s = buildPodStatus({ ...base, podIPs: [], containers: [running('a', false), waiting('b', 'ErrImagePull')] });
    expect(s['phase']).toBe('Pending');
    expect(s['podIP']).toBeUndefined();
    const ready = (s['conditions'] as Array<{ type: string; status: string; reason?: string; message?: string }>).find((c) => c.type === 'Ready')!;
    expect(ready).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [a b]' });
    const cs = s['containerStatuses'] as Array<Record<string, unknown>>;
    expect(cs[1]).toMatchObject({ name: 'b', ready: false, restartCount: 0, state: { waiting: { reason: 'ErrImagePull' } } });
  });

  it('keeps transition times of unchanged conditions and PodScheduled from the API', () => {
    const prev = [{ type: 'Ready', status: 'True' as const, lastProbeTime: null, lastTransitionTime: '2020-01-01T00:00:00Z' }, { type: 'PodScheduled', status: 'True' as const, lastProbeTime: null, lastTransitionTime: '2019-01-01T00:00:00Z' }];
    const s = buildPodStatus({ ...base, containers: [running('a')], previous: { conditions: prev }, now: '2026-02-02T00:00:00Z' });
    const c = s['conditions'] as Array<{ type: string; lastTransitionTime: string }>;
    expect(c.find((x) => x.type === 'Ready')!.lastTransitionTime).toBe('2020-01-01T00:00:00Z');
    expect(c.find((x) => x.type === 'PodScheduled')!.lastTransitionTime).toBe('2019-01-01T00:00:00Z');
    expect(c.find((x) => x.type === 'Initialized')!.lastTransitionTime).toBe('2026-02-02T00:00:00Z');
  });

  it('reports restarts with the last termination', () => {
    const c = waiting('a', 'CrashLoopBackOff', 3);
    const s = buildPodStatus({ ...base, containers: [c] });
    const cs = (s['containerStatuses'] as Array<Record<string, unknown>>)[0]!;
    expect(cs['restartCount']).toBe(1);
    expect(cs['lastState']).toMatchObject({ terminated: { exitCode: 3, reason: 'Error' } });
  });

  it('fingerprint ignores timestamps', () => {
    const a = buildPodStatus({ ...base, containers: [running('a')], now: '2026-01-01T00:00:00Z' });
    const b = buildPodStatus({ ...base, containers: [running('a')], now: '2026-03-01T00:00:00Z' });
    expect(statusFingerprint(a)).toBe(statusFingerprint(b));
  });
});
