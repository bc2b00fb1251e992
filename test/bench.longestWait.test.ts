import { describe, expect, it } from 'vitest';
import type { temporal } from '@temporalio/proto';
import { longestWaitAfter } from '../bench/harness.js';

type Event = temporal.api.history.v1.IHistoryEvent;
// The SDK hands ids and seconds over as Long; plain numbers read the same through eventMs and String().
const long = (n: number) => n as unknown as NonNullable<Event['eventId']>;
const at = (ms: number) => ({ eventTime: { seconds: long(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 } });
let nextId = 1;
const event = (ms: number, attributes: Omit<Event, 'eventId' | 'eventTime'>): Event => ({
  eventId: long(nextId++),
  ...at(ms),
  ...attributes,
});

describe('longestWaitAfter (bench:restart)', () => {
  it('joins a task lost with its worker, its timeout and its retry into one wait', () => {
    nextId = 1;
    const scheduled = event(9_000, { workflowTaskScheduledEventAttributes: {} });
    const started = event(9_010, { workflowTaskStartedEventAttributes: { scheduledEventId: scheduled.eventId } });
    const timedOut = event(19_010, {
      workflowTaskTimedOutEventAttributes: { scheduledEventId: scheduled.eventId, startedEventId: started.eventId },
    });
    const again = event(19_010, { workflowTaskScheduledEventAttributes: {} });
    const startedAgain = event(19_500, { workflowTaskStartedEventAttributes: { scheduledEventId: again.eventId } });
    // Killed at 10 s: waited from then until 19.5 s.
    expect(longestWaitAfter([scheduled, started, timedOut, again, startedAgain], 10_000)).toBe(9_500);
  });

  it('counts an activity retried after the kill from the kill, and a prompt task not at all', () => {
    nextId = 1;
    const scheduled = event(20_000, { workflowTaskScheduledEventAttributes: {} });
    const started = event(20_005, { workflowTaskStartedEventAttributes: { scheduledEventId: scheduled.eventId } });
    const retried = event(14_000, { activityTaskStartedEventAttributes: { scheduledEventId: long(99), attempt: 2 } });
    const firstTry = event(15_000, { activityTaskStartedEventAttributes: { scheduledEventId: long(98), attempt: 1 } });
    expect(longestWaitAfter([scheduled, started, retried, firstTry], 10_000)).toBe(4_000);
    expect(longestWaitAfter([scheduled, started, firstTry], 10_000)).toBe(5);
    expect(longestWaitAfter([], 10_000)).toBe(0);
  });
});
