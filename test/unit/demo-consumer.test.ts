import { describe, expect, it } from 'vitest';
import {
  consumerLine,
  consumerPod,
  consumerProblems,
  consumerVerdict,
  parseConsumerLog,
} from '../../scripts/demo-consumer.ts';

const at = (clock: string): number => Date.parse(`2026-12-04T${clock}Z`);
const seconds = (ms: number): string => `${String(Math.round(ms / 1000))}s`;

describe('the demo consumer pod', () => {
  it('mounts the orders Secret read-only and watches only its expires_at key', () => {
    const pod = JSON.stringify(consumerPod('demo'));
    expect(pod).toContain('"secretName":"orders-token"');
    expect(pod).toContain('"args":["/var/run/secrets/orders/expires_at"]');
    expect(pod).toContain('"readOnly":true');
  });

  it('parses the CRI log lines file-reader prints and skips everything else', () => {
    const log = [
      `2026-12-04T19:00:01.5Z stdout F ${String(at('19:00:01'))} 2026-12-04T19:05:00.000Z`,
      '2026-12-04T19:00:02Z stderr F something else',
      `2026-12-04T19:03:30Z stdout F ${String(at('19:03:30'))} 2026-12-04T19:08:20.000Z`,
      '',
    ].join('\n');
    expect(parseConsumerLog(log)).toEqual([
      { atMs: at('19:00:01'), expiresAtMs: at('19:05:00') },
      { atMs: at('19:03:30'), expiresAtMs: at('19:08:20') },
    ]);
  });

  it('a pod that got each new token before the old one expired never held an expired token', () => {
    const reads = [
      { atMs: at('19:00:01'), expiresAtMs: at('19:05:00') },
      { atMs: at('19:03:30'), expiresAtMs: at('19:08:20') },
    ];
    const verdict = consumerVerdict(reads, at('19:04:00'));
    expect(verdict.expiredSpans).toEqual([]);
    expect(consumerProblems(verdict)).toEqual([]);
    expect(consumerLine(verdict, seconds)).toBe(
      'consumer pod orders-reader (mounts orders-token): since 19:03:30 holds the token expiring 19:08:20: ' +
        'valid, 260s left; never held an expired token',
    );
  });

  it('a file change after the old expiry is a stretch with an expired token, named in the verdict', () => {
    const reads = [
      { atMs: at('19:00:01'), expiresAtMs: at('19:05:00') },
      { atMs: at('19:05:40'), expiresAtMs: at('19:10:00') },
    ];
    const verdict = consumerVerdict(reads, at('19:06:00'));
    expect(verdict.expiredSpans).toEqual([{ fromMs: at('19:05:00'), toMs: at('19:05:40') }]);
    expect(consumerProblems(verdict)).toEqual([
      'orders-reader: held a token from 19:05:00 to 19:05:40 after it expired',
    ]);
    expect(consumerLine(verdict, seconds)).toContain('held an expired token 1 time(s)');
  });

  it('the token the pod still holds past its expiry counts up to now', () => {
    const verdict = consumerVerdict([{ atMs: at('19:00:01'), expiresAtMs: at('19:05:00') }], at('19:05:30'));
    expect(verdict.expiredSpans).toEqual([{ fromMs: at('19:05:00'), toMs: at('19:05:30') }]);
    expect(consumerLine(verdict, seconds)).toContain('EXPIRED 30s ago');
  });

  it('a pod that never read the Secret fails the verdict', () => {
    const verdict = consumerVerdict([], at('19:05:30'));
    expect(consumerLine(verdict, seconds)).toBe(
      'consumer pod orders-reader (mounts orders-token): has not read the token yet',
    );
    expect(consumerProblems(verdict)).toEqual(['orders-reader: the pod never read orders-token']);
  });
});
