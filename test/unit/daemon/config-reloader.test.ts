/**
 * The configuration is re-read beside the loop: a reload that stalls holds no pass, a stop gives it
 * up at once, its total deadline ends it, and the loop takes what it brought at a pass boundary.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { ConfigError } from '../../../src/core/errors.ts';
import type { HostSample } from '../../../src/core/decision.ts';
import { loadConfig, type LoadedConfig } from '../../../src/config/load.ts';
import type { Clock } from '../../../src/common/clock.ts';
import { ConfigReloader } from '../../../src/daemon/config-reloader.ts';
import { Daemon } from '../../../src/daemon/daemon.ts';
import { RunDir } from '../../../src/daemon/run-dir.ts';
import { HostObserver } from '../../../src/host/observer.ts';
import { createLogger } from '../../../src/report/logger.ts';
import { FakeEngine } from '../../support/fake-engine.ts';
import { waitFor } from '../../support/docker.ts';
import { passesIn } from '../../support/daemon.ts';

const config = (env: Record<string, string> = {}): LoadedConfig =>
  loadConfig({ env: { PLANCTON_UPDATECONFIG: '1', PLANCTON_INSTANCE_ID: 'unit', ...env }, args: [] });

function logger(): { logger: ReturnType<typeof createLogger>; text: () => string; flushed: () => Promise<string> } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  const log = createLogger({ level: 'debug', stream, json: true });
  let n = 0;
  /** The log once everything logged so far has come through (a marker logged last has). */
  const flushed = async (): Promise<string> => {
    const marker = `flush-${n++}`;
    log.info(marker);
    await waitFor('the log to flush', () => (text.includes(marker) ? true : undefined), 5000);
    return text;
  };
  return { logger: log, text: () => text, flushed };
}

/** A clock whose time is set by the test and whose sleeps end only when the test says (or their signal aborts). */
class ManualClock implements Clock {
  t = 0;
  readonly #sleepers: Array<() => void> = [];
  now(): number {
    return this.t;
  }
  monotonic(): number {
    return this.t;
  }
  sleep(_ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      signal?.throwIfAborted();
      this.#sleepers.push(resolve);
      signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
  }
  /** Ends every sleep under way (a deadline reached). */
  wakeAll(): void {
    for (const w of this.#sleepers.splice(0)) w();
  }
}

/** A load the test ends: `resolve`/`reject` it, and see the signal it was given. */
function pendingLoad() {
  const calls: Array<{ signal: AbortSignal; resolve: (c: LoadedConfig) => void; reject: (e: Error) => void }> = [];
  const load = (signal: AbortSignal): Promise<LoadedConfig> =>
    new Promise((resolve, reject) => calls.push({ signal, resolve, reject }));
  return { calls, load };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('config reloader beside the loop', () => {
  it('a reload under way holds no pass; what it brings is taken at the next pass boundary', async () => {
    const clock = new ManualClock();
    const stop = new AbortController();
    const { calls, load } = pendingLoad();
    const log = logger();
    const first = config();
    const r = new ConfigReloader(first, { load, logger: log.logger, clock, stop: stop.signal });
    assert.equal(r.poll(500), undefined, 'not due before updateconfig');
    assert.equal(calls.length, 0);
    assert.equal(r.poll(1000), undefined, 'due: started, not awaited');
    assert.equal(calls.length, 1);
    assert.equal(r.reloading, true);
    for (const t of [1100, 2500, 9000]) assert.equal(r.poll(t), undefined, 'passes go on meanwhile');
    assert.equal(calls.length, 1, 'one reload at a time');
    assert.equal(r.current, first, 'the last good configuration meanwhile');
    const next = config({ PLANCTON_MAX_DOCKS: '7' });
    calls[0]?.resolve(next);
    await r.settled();
    assert.equal(r.current, first, 'not before a pass boundary');
    assert.equal(r.poll(9100), next);
    assert.equal(r.current, next);
    assert.match(await log.flushed(), /"changed":\["max_docks"\][^\n]*"message":"configuration reloaded"/);
    assert.equal(calls.length, 2, 'and the next reload, due since, is under way');
    stop.abort();
  });

  it('a stop gives the reload up at once (its signal aborts), quietly, and starts none after it', async () => {
    const clock = new ManualClock();
    const stop = new AbortController();
    const { calls, load } = pendingLoad();
    const log = logger();
    const r = new ConfigReloader(config(), { load, logger: log.logger, clock, stop: stop.signal });
    r.poll(1000);
    const signal = calls[0]?.signal;
    assert.equal(signal?.aborted, false);
    stop.abort();
    assert.equal(signal?.aborted, true);
    await r.settled();
    assert.equal(r.reloading, false);
    assert.equal(r.error, undefined);
    assert.doesNotMatch(await log.flushed(), /reload failed/);
    r.poll(5000);
    assert.equal(calls.length, 1);
  });

  it('the total deadline ends a reload that does not heed its signal; the next one may start', async () => {
    const clock = new ManualClock();
    const stop = new AbortController();
    const log = logger();
    const signals: AbortSignal[] = [];
    // a loader that never settles, signal or not
    const load = (signal: AbortSignal): Promise<LoadedConfig> => {
      signals.push(signal);
      return new Promise(() => undefined);
    };
    const first = config();
    const r = new ConfigReloader(first, { load, logger: log.logger, clock, stop: stop.signal, deadlineMs: 45_000 });
    r.poll(1000);
    await tick();
    clock.wakeAll(); // the deadline is reached
    await r.settled();
    assert.equal(r.error, 'no configuration within 45 s');
    assert.equal(signals[0]?.aborted, true, 'the loader is told to give up');
    assert.equal(r.current, first);
    assert.match(await log.flushed(), /reload failed, keeping the last good one: no configuration within 45 s/);
    r.poll(2000);
    assert.equal(signals.length, 2);
    stop.abort();
  });

  it('a bad configuration keeps the last good one and names the key, once per distinct error', async () => {
    const clock = new ManualClock();
    const stop = new AbortController();
    const log = logger();
    const bad = new ConfigError([{ key: 'max_docks', message: 'not a number' }]);
    const first = config();
    const r = new ConfigReloader(first, {
      load: () => Promise.reject(bad),
      logger: log.logger,
      clock,
      stop: stop.signal,
    });
    for (const t of [1000, 2000, 3000]) {
      r.poll(t);
      await r.settled();
    }
    assert.equal(r.current, first);
    assert.equal(r.error, 'max_docks: not a number');
    assert.equal((await log.flushed()).match(/reload failed/g)?.length, 1);
    stop.abort();
  });
});

describe('the loop with a reload that stalls', () => {
  const host: HostSample = {
    at: 0,
    ncpus: 4,
    cpu: { busyPct: 0, perCpuBusyPct: [0, 0, 0, 0], intervalSec: 1 },
    memory: { totalBytes: 8e9, availableBytes: 8e9, swapTotalBytes: 0, swapFreeBytes: 0 },
  };
  it('keeps its pace and its pilots on the last good configuration, and a stop ends it and the reload at once', async () => {
    const engine = new FakeEngine();
    engine.images.add('busybox');
    const log = logger();
    const { calls, load } = pendingLoad();
    const initial = config({ PLANCTON_MAIN_SLEEP: '0.05', PLANCTON_MAX_DOCKS: '2' });
    const d = new Daemon(
      {
        engine,
        identity: { instance: 'unit', hostname: 'h', version: 't' },
        apparmor: false,
        host: {
          observer: new HostObserver({
            sampler: { sample: (now) => Promise.resolve({ ...host, at: now }) },
            selfCpu: () => ({ user: 0, system: 0 }),
          }),
        },
        reload: { load },
        runDir: new RunDir(mkdtempSync(join(tmpdir(), 'plancton-unit-reload-'))),
        logger: log.logger,
        timing: { minIntervalMs: 0 },
      },
      initial,
    );
    const done = d.run();
    await waitFor('a reload under way', () => (calls.length > 0 ? true : undefined), 10_000);
    await waitFor('2 pilots', () => (engine.pilots.size === 2 ? true : undefined), 10_000);
    const at = passesIn(log.text()).length;
    await waitFor(
      '10 more passes while it stalls',
      () => (passesIn(log.text()).length >= at + 10 ? true : undefined),
      10_000,
    );
    assert.equal(calls.length, 1, 'still the one reload');
    assert.equal(engine.pilots.size, 2, 'the pilots of the last good configuration');
    assert.equal(d.config, initial);
    d.stop();
    assert.equal(await done, 'signal');
    assert.equal(calls[0]?.signal.aborted, true, 'the stalled reload was given up');
    assert.equal(engine.pilots.size, 2, 'on_stop keep: the pilots stay');
  });
});
