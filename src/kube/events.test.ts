import { describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../policy/clock.ts';
import { EventRecorder, type EventOutcome, type EventWriter, type NewEvent } from './events.ts';

const target = { namespace: 'team', name: 'orders', uid: 'uid-1', resourceVersion: '7' };

interface Call {
  kind: 'create' | 'fold';
  namespace: string;
  name: string;
  count: number;
  body?: NewEvent;
  settle: (error?: Error) => void;
}

/** A writer whose calls stay open until the test settles them. */
class HeldWriter implements EventWriter {
  readonly calls: Call[] = [];

  create(namespace: string, body: NewEvent): Promise<void> {
    return this.#hold({ kind: 'create', namespace, name: body.metadata.name, count: body.count, body });
  }

  fold(namespace: string, name: string, count: number): Promise<void> {
    return this.#hold({ kind: 'fold', namespace, name, count });
  }

  #hold(call: Omit<Call, 'settle'>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.calls.push({
        ...call,
        settle: (error) => {
          if (error) reject(error);
          else resolve();
        },
      });
    });
  }

  /** Settles every open call and lets the recorder react. */
  async settleAll(error?: Error): Promise<void> {
    for (const call of this.calls.splice(0)) call.settle(error);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function recorder(options: { maxQueued?: number; maxInFlight?: number } = {}) {
  const writer = new HeldWriter();
  const clock = new ManualClock();
  const outcomes: EventOutcome[] = [];
  const errors: unknown[] = [];
  const events = new EventRecorder({
    writer,
    clock,
    ...options,
    onError: (error) => errors.push(error),
    onOutcome: (outcome) => outcomes.push(outcome),
  });
  return { writer, clock, outcomes, errors, events };
}

describe('EventRecorder', () => {
  it('returns at once and writes the Event in the background', async () => {
    const { writer, events, outcomes, clock } = recorder();
    events.emit(target, 'Normal', 'Issued', 'Issued a token');
    // Written although nobody awaited anything, and still open: emit() did not wait for it.
    expect(writer.calls).toHaveLength(1);
    const body = writer.calls[0]?.body;
    expect(body).toMatchObject({
      involvedObject: { kind: 'ApiCredential', name: 'orders', namespace: 'team', uid: 'uid-1' },
      type: 'Normal',
      reason: 'Issued',
      message: 'Issued a token',
      count: 1,
    });
    expect(body?.firstTimestamp.getTime()).toBe(clock.now());
    expect(events.backlog).toBe(1);
    await writer.settleAll();
    expect(outcomes).toEqual(['created']);
    expect(events.backlog).toBe(0);
  });

  it('folds repeats that wait in the queue into one Event with their count', async () => {
    const { writer, events, outcomes, clock } = recorder({ maxInFlight: 1 });
    events.emit(target, 'Warning', 'Busy', 'first occupies the only slot');
    for (let i = 0; i < 3; i += 1) {
      clock.advance(1000);
      events.emit(target, 'Warning', 'RenewalFailed', 'provider said 503');
    }
    expect(writer.calls).toHaveLength(1);
    await writer.settleAll();
    expect(writer.calls).toHaveLength(1);
    const folded = writer.calls[0]?.body;
    expect(folded?.reason).toBe('RenewalFailed');
    expect(folded?.count).toBe(3);
    expect((folded?.lastTimestamp.getTime() ?? 0) - (folded?.firstTimestamp.getTime() ?? 0)).toBe(2000);
    await writer.settleAll();
    expect(outcomes).toEqual(['created', 'created']);
  });

  it('raises the count of the written Event for a repeat within ten minutes, and starts a new one after', async () => {
    const { writer, events, clock, outcomes } = recorder();
    events.emit(target, 'Warning', 'RenewalFailed', 'provider said 503');
    const name = writer.calls[0]?.name;
    await writer.settleAll();
    clock.advance(9 * 60_000);
    events.emit(target, 'Warning', 'RenewalFailed', 'provider said 503');
    expect(writer.calls[0]).toMatchObject({ kind: 'fold', name, count: 2 });
    await writer.settleAll();
    clock.advance(10 * 60_000);
    events.emit(target, 'Warning', 'RenewalFailed', 'provider said 503');
    expect(writer.calls[0]).toMatchObject({ kind: 'create', count: 1 });
    expect(writer.calls[0]?.name).not.toBe(name);
    await writer.settleAll();
    expect(outcomes).toEqual(['created', 'folded', 'created']);
  });

  it('never writes two Events for one repeat: a repeat of an Event being written waits and then folds', async () => {
    const { writer, events } = recorder({ maxInFlight: 4 });
    events.emit(target, 'Warning', 'RenewalFailed', 'provider said 503');
    events.emit({ ...target, name: 'other', uid: 'uid-2' }, 'Normal', 'Issued', 'Issued a token');
    events.emit(target, 'Warning', 'RenewalFailed', 'provider said 503');
    expect(writer.calls.map((call) => call.kind)).toEqual(['create', 'create']);
    const name = writer.calls[0]?.name;
    await writer.settleAll();
    expect(writer.calls).toHaveLength(1);
    expect(writer.calls[0]).toMatchObject({ kind: 'fold', name, count: 2 });
  });

  it('keeps at most maxInFlight writes open and writes the rest oldest first', async () => {
    const { writer, events } = recorder({ maxInFlight: 2 });
    for (const reason of ['A', 'B', 'C', 'D', 'E']) events.emit(target, 'Normal', reason, reason);
    expect(writer.calls.map((call) => call.body?.reason)).toEqual(['A', 'B']);
    expect(events.backlog).toBe(5);
    await writer.settleAll();
    expect(writer.calls.map((call) => call.body?.reason)).toEqual(['C', 'D']);
    await writer.settleAll();
    expect(writer.calls.map((call) => call.body?.reason)).toEqual(['E']);
  });

  it('drops new Events when the queue is full, and counts them', async () => {
    const { writer, events, outcomes } = recorder({ maxQueued: 2, maxInFlight: 1 });
    for (const reason of ['A', 'B', 'C', 'D']) events.emit(target, 'Normal', reason, reason);
    // A is being written, B and C wait, D finds the queue full.
    expect(outcomes).toEqual(['dropped']);
    await writer.settleAll();
    await writer.settleAll();
    await writer.settleAll();
    expect(outcomes).toEqual(['dropped', 'created', 'created', 'created']);
  });

  it('reports a failed write, and creates the Event anew on the next repeat', async () => {
    const { writer, events, outcomes, errors } = recorder();
    events.emit(target, 'Warning', 'RenewalFailed', 'provider said 503');
    await writer.settleAll(new Error('events is forbidden'));
    expect(outcomes).toEqual(['failed']);
    expect(errors).toHaveLength(1);
    events.emit(target, 'Warning', 'RenewalFailed', 'provider said 503');
    expect(writer.calls[0]?.kind).toBe('create');
  });

  it('flush() resolves once the queue is written, or at its deadline if the apiserver does not answer', async () => {
    const { writer, events } = recorder({ maxInFlight: 1 });
    events.emit(target, 'Normal', 'A', 'A');
    events.emit(target, 'Normal', 'B', 'B');
    let flushed = false;
    const flushing = events.flush(60_000).then(() => {
      flushed = true;
    });
    await writer.settleAll();
    expect(flushed).toBe(false);
    await writer.settleAll();
    await flushing;
    expect(events.backlog).toBe(0);

    vi.useFakeTimers();
    try {
      events.emit(target, 'Normal', 'C', 'C');
      const bounded = events.flush(3_000);
      await vi.advanceTimersByTimeAsync(3_000);
      await bounded;
      expect(events.backlog).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('cuts a long message', () => {
    const { writer, events } = recorder();
    events.emit(target, 'Warning', 'X', 'x'.repeat(5000));
    expect(writer.calls[0]?.body?.message).toHaveLength(1024);
    expect(writer.calls[0]?.body?.message.endsWith('…')).toBe(true);
  });
});
