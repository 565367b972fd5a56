import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedQueue } from '../../../src/report/bounded-queue.ts';

const fill = (q: BoundedQueue<number>, from: number, to: number): void => {
  for (let i = from; i < to; i++) q.push(i);
};

describe('BoundedQueue', () => {
  it('keeps the newest items when full and counts each dropped one', () => {
    const q = new BoundedQueue<number>(3);
    fill(q, 0, 10);
    assert.equal(q.size, 3);
    assert.equal(q.dropped, 7);
    assert.deepEqual(q.begin(10), [7, 8, 9]);
  });

  it('a committed batch leaves; an aborted one stays at the head, in order', () => {
    const q = new BoundedQueue<number>(10);
    fill(q, 0, 5);
    assert.deepEqual(q.begin(2), [0, 1]);
    q.abort();
    assert.equal(q.size, 5);
    assert.deepEqual(q.begin(2), [0, 1]);
    q.commit();
    assert.equal(q.delivered, 2);
    assert.deepEqual(q.begin(10), [2, 3, 4]);
    q.commit();
    assert.equal(q.size, 0);
    assert.equal(q.dropped, 0);
  });

  it('one batch at a time', () => {
    const q = new BoundedQueue<number>(10);
    fill(q, 0, 5);
    assert.equal(q.begin(2).length, 2);
    assert.ok(q.inFlight);
    assert.deepEqual(q.begin(2), []);
  });

  it('items pushed out while their batch is in flight are not lost if it is written', () => {
    const q = new BoundedQueue<number>(3);
    fill(q, 0, 3);
    assert.deepEqual(q.begin(2), [0, 1]);
    fill(q, 3, 5); // pushes 0 and 1 out while they travel
    q.commit();
    assert.equal(q.dropped, 0);
    assert.equal(q.delivered, 2);
    assert.deepEqual(q.begin(10), [2, 3, 4]);
  });

  it('... and are counted as dropped if it fails', () => {
    const q = new BoundedQueue<number>(3);
    fill(q, 0, 3);
    q.begin(2);
    fill(q, 3, 5);
    q.abort();
    assert.equal(q.dropped, 2);
    assert.deepEqual(q.begin(10), [2, 3, 4]);
  });

  it('dropped + delivered + held = pushed, whatever the interleaving', () => {
    const q = new BoundedQueue<number>(7);
    let pushed = 0;
    for (let round = 0; round < 200; round++) {
      const n = (round * 7) % 11;
      fill(q, pushed, pushed + n);
      pushed += n;
      if (round % 3 === 0) q.begin(1 + (round % 5));
      if (round % 3 === 1) {
        if (round % 2) q.commit();
        else q.abort();
      }
    }
    q.abort();
    assert.equal(q.dropped + q.delivered + q.size, pushed);
  });

  it('shrinking drops the oldest; growing keeps everything', () => {
    const q = new BoundedQueue<number>(5);
    fill(q, 0, 5);
    q.resize(2);
    assert.equal(q.dropped, 3);
    q.resize(4);
    fill(q, 5, 7);
    assert.deepEqual(q.begin(10), [3, 4, 5, 6]);
  });

  it('capacity 0 keeps nothing and counts everything', () => {
    const q = new BoundedQueue<number>(0);
    fill(q, 0, 4);
    assert.equal(q.size, 0);
    assert.equal(q.dropped, 4);
    assert.deepEqual(q.begin(10), []);
  });
});
