import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InspectCache } from '../../../src/engine/inspect-cache.ts';

const running = { state: 'running' as const, startedAt: 1000 };

describe('InspectCache', () => {
  it('keeps nothing while no event stream is open, and forgets all when one opens or closes', () => {
    const c = new InspectCache();
    c.set('a', running, c.mark());
    assert.equal(c.get('a', 'running'), undefined, 'no stream: not kept');
    c.opened();
    c.set('a', running, c.mark());
    assert.deepEqual(c.get('a', 'running'), running);
    c.opened(); // a second stream (a reconnect before the old one was seen closing)
    assert.equal(c.get('a', 'running'), undefined);
    c.set('a', running, c.mark());
    c.closed();
    assert.equal(c.get('a', 'running'), undefined);
    c.set('a', running, c.mark());
    assert.deepEqual(c.get('a', 'running'), running, 'one stream still open: kept again');
    assert.equal(c.size, 1);
    c.closed();
    c.set('a', running, c.mark());
    assert.equal(c.size, 0, 'no stream left: nothing kept');
  });

  it('holds an entry only in the state it was inspected in', () => {
    const c = new InspectCache();
    c.opened();
    c.set('a', running, c.mark());
    assert.equal(c.get('a', 'exited'), undefined);
    assert.equal(c.get('a', 'paused'), undefined);
    assert.deepEqual(c.get('a', 'running'), running);
  });

  it('forgets a container at its start, restart, die, kill, oom or destroy, not at an exec or a pause', () => {
    const c = new InspectCache();
    c.opened();
    for (const action of ['exec_start: sh -c true', 'exec_die', 'pause', 'unpause', 'top']) {
      c.set('a', running, c.mark());
      c.event('a', action);
      assert.deepEqual(c.get('a', 'running'), running, action);
    }
    for (const action of ['start', 'restart', 'die', 'kill', 'oom', 'destroy']) {
      c.set('a', running, c.mark());
      c.set('b', running, c.mark());
      c.event('a', action);
      assert.equal(c.get('a', 'running'), undefined, action);
      assert.deepEqual(c.get('b', 'running'), running, `${action} of another container`);
    }
  });

  it('does not keep an inspection that was under way when an event came', () => {
    const c = new InspectCache();
    c.opened();
    const mark = c.mark();
    c.event('a', 'start');
    c.set('a', running, mark);
    assert.equal(c.get('a', 'running'), undefined);
  });

  it('forgets the containers no longer listed', () => {
    const c = new InspectCache();
    c.opened();
    c.set('a', running, c.mark());
    c.set('b', running, c.mark());
    c.keepOnly(new Set(['b']));
    assert.equal(c.get('a', 'running'), undefined);
    assert.deepEqual(c.get('b', 'running'), running);
  });
});
