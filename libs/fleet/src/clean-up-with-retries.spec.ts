import { describe, expect, it } from '@jest/globals';
import { cleanUpWithRetries } from './scoring-runs';

describe('cleanUpWithRetries', () => {
  it('retries a failing clean-up until it succeeds', async () => {
    let calls = 0;
    const removed = await cleanUpWithRetries(async () => {
      calls += 1;
      if (calls < 3) throw new Error('store unreachable');
    }, [1, 1, 1]);
    expect({ removed, calls }).toEqual({ removed: true, calls: 3 });
  });

  it('gives up after its last delay and resolves false, never rejecting', async () => {
    let calls = 0;
    const removed = await cleanUpWithRetries(async () => {
      calls += 1;
      throw new Error('store unreachable');
    }, [1, 1]);
    expect({ removed, calls }).toEqual({ removed: false, calls: 3 });
  });
});
