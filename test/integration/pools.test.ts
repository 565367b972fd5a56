/**
 * Pools on the real engine: two busybox pools fill the host in their shares, a restarted daemon
 * adopts each pilot into its pool, a pool taken out of the configuration is drained with its own
 * stop settings, and a pool whose pilots find no work lends its CPU to the other and gets it back.
 * The host is a fake /proc of 10 idle CPUs (test/support/fake-proc.ts) so that the shares are exact
 * numbers on this shared 2-CPU machine; the containers, labels and signals are real.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker, randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { DaemonProcess, pilotsOf, testConfig } from '../support/daemon.ts';
import { FakeProc } from '../support/fake-proc.ts';

const skip = await requireEngine('busybox');

/** Running containers of `instance` in `pool`, by the pool label the engine holds. */
async function running(instance: string, pool: string): Promise<string[]> {
  return (await pilotsOf(instance, 'running', { labels: { 'org.plancton.pool': pool } })).map((r) => r.id);
}

/** A YAML configuration: the test defaults, a fake 10-CPU host, 1-CPU pilots, and `pools` as JSON (YAML's flow style). */
function poolsConfig(instance: string, proc: FakeProc, pools: unknown[], extra: Record<string, unknown> = {}): string {
  return testConfig(instance, {
    host_proc: proc.dir,
    io_mechanism: 'off',
    cpus_per_dock: 1,
    max_docks: 10,
    docks_per_loop: 10,
    stop_timeout: 5,
    pools,
    ...extra,
  });
}

describe('pools on the real engine: shares, adoption, removal', { skip, timeout: 300_000 }, () => {
  const instance = randomInstance();
  const proc = new FakeProc(10);
  const out = mkdtempSync(join(tmpdir(), 'plancton-pools-out-'));
  chmodSync(out, 0o777);
  let d: DaemonProcess | undefined;
  after(async () => {
    proc.close();
    await d?.cleanup();
    await removeByLabel(`org.plancton.instance=${instance}`);
    rmSync(out, { recursive: true, force: true });
  });
  // `small`'s pilots write who they are when asked to go with their pool's own stop signal, SIGUSR1
  const trap = 'trap "echo bye > /out/$(hostname); exit 0" USR1; while :; do sleep 1; done';
  const big = { name: 'big', share: 70, docker_cmd: ['sleep', '600'] };
  const small = {
    name: 'small',
    share: 30,
    docker_cmd: ['sh', '-c', trap],
    binds: [`${out}:/out`],
    stop_signal: 'SIGUSR1',
    stop_timeout: 20,
  };

  it('two pools of 70 and 30 fill an idle 10-CPU host with 7 and 3 pilots; a pilot without a pool label is the first pool’s', async () => {
    // a pilot of this instance made before pools: ownership labels, no pool label
    await docker([
      'run',
      '-d',
      '--name',
      `plancton-worker-${instance}-legacy`,
      '--label',
      'org.plancton.managed-by=plancton',
      '--label',
      `org.plancton.instance=${instance}`,
      '--label',
      'org.plancton.pilot-id=legacy',
      '--label',
      'org.plancton.role=pilot',
      'busybox',
      'sleep',
      '600',
    ]);
    d = new DaemonProcess(poolsConfig(instance, proc, [big, small])).start();
    const counts = await waitFor(
      '6 new big pilots (and the legacy one) and 3 small ones',
      async () => {
        const [b, s] = [(await running(instance, 'big')).length, (await running(instance, 'small')).length];
        return b === 6 && s === 3 ? [b, s] : undefined;
      },
      120_000,
      500,
    );
    assert.deepEqual(counts, [6, 3]);
    const status = await waitFor(
      'the status to show them',
      () => {
        const st = d?.status();
        return st?.pools?.[0]?.pilots === 7 && st.pools[1]?.pilots === 3 ? st : undefined;
      },
      30_000,
    );
    assert.deepEqual(
      status?.pools?.map((p) => [p.name, p.share, p.pilots]),
      [
        ['big', 70, 7],
        ['small', 30, 3],
      ],
    );
    assert.equal(status?.pilots.find((p) => p.name.endsWith('-legacy'))?.pool, 'big');
    const label = await docker([
      'inspect',
      '-f',
      '{{index .Config.Labels "org.plancton.stop"}}',
      (await running(instance, 'small'))[0] ?? '',
    ]);
    assert.deepEqual(JSON.parse(label), { graceSec: 20, signal: 'SIGUSR1', command: [] });
  });

  it('a restarted daemon adopts every pilot into its pool and starts none', async () => {
    const before = [...(await running(instance, 'big')), ...(await running(instance, 'small'))].sort();
    await d?.kill('SIGTERM');
    d?.start();
    const pid = d?.proc?.pid;
    await waitFor(
      '4 passes of the new daemon',
      () => {
        const st = d?.status();
        return st !== undefined && st.pid === pid && st.iterations >= 4 ? true : undefined;
      },
      60_000,
    );
    const after = [...(await running(instance, 'big')), ...(await running(instance, 'small'))].sort();
    assert.deepEqual(after, before, 'the same pilots, none started or removed');
    assert.deepEqual(
      d?.status()?.pools?.map((p) => [p.name, p.pilots, p.toStart]),
      [
        ['big', 7, 0],
        ['small', 3, 0],
      ],
    );
  });

  it('a pool taken out of the configuration is drained with its own stop signal; the other takes the host', async () => {
    const smallIds = await running(instance, 'small');
    const names = await Promise.all(smallIds.map((id) => docker(['inspect', '-f', '{{.Config.Hostname}}', id])));
    d?.writeConfig(poolsConfig(instance, proc, [big]));
    const removals = await waitFor(
      '3 pool-removed removals',
      () => {
        const r = d?.status()?.removals.filter((x) => x.reason === 'pool-removed') ?? [];
        return r.length === 3 ? r : undefined;
      },
      90_000,
      500,
    );
    assert.deepEqual(removals.map((r) => r.id).sort(), [...smallIds].sort());
    assert.deepEqual(
      removals.map((r) => [r.killed, r.exitCode]),
      [
        [true, 0],
        [true, 0],
        [true, 0],
      ],
      'vacated, and gone on their own signal',
    );
    for (const n of names) assert.equal(readFileSync(join(out, n), 'utf8').trim(), 'bye', `${n} got SIGUSR1`);
    // the legacy pilot is big's too: 9 labelled ones and it
    await waitFor(
      'big alone fills the host: 10 pilots',
      async () => ((await running(instance, 'big')).length === 9 ? true : undefined),
      90_000,
      500,
    );
    assert.equal(d?.status()?.pools?.length, 1);
  });
});

describe(
  'pools on the real engine: a pool with no work lends its CPU and gets it back',
  { skip, timeout: 300_000 },
  () => {
    const instance = randomInstance();
    const proc = new FakeProc(10);
    const flag = mkdtempSync(join(tmpdir(), 'plancton-pools-flag-'));
    chmodSync(flag, 0o755);
    let d: DaemonProcess | undefined;
    after(async () => {
      proc.close();
      await d?.cleanup();
      await removeByLabel(`org.plancton.instance=${instance}`);
      rmSync(flag, { recursive: true, force: true });
    });

    it('while its pilots exit 75 the other pool takes its share; once they work, it is back to its 3', async () => {
      writeFileSync(join(flag, 'nowork'), '');
      // steady's pilots work 8 s and end (exit 0): the host turns over and freed CPUs are divided anew
      const steady = { name: 'steady', share: 70, docker_cmd: ['sleep', '8'] };
      const script = 'if [ -e /flag/nowork ]; then exit 75; fi; exec sleep 600';
      const switched = {
        name: 'switched',
        share: 30,
        docker_cmd: ['sh', '-c', script],
        binds: [`${flag}:/flag:ro`],
        backoff_base: 1,
        backoff_max: 3,
      };
      d = new DaemonProcess(poolsConfig(instance, proc, [steady, switched])).start();
      await waitFor(
        'switched backing off and steady over its share of 7',
        async () => {
          const s = d?.status()?.pools?.find((p) => p.name === 'switched');
          return (s?.backoffLevel ?? 0) >= 1 && (await running(instance, 'steady')).length >= 9 ? true : undefined;
        },
        120_000,
        250,
      );
      assert.ok(existsSync(join(flag, 'nowork')));
      rmSync(join(flag, 'nowork'));
      const back = await waitFor(
        'switched back to its 3 pilots',
        async () => {
          const n = (await running(instance, 'switched')).length;
          return n >= 3 ? n : undefined;
        },
        120_000,
        250,
      );
      assert.equal(back, 3, 'no more than its share while steady has work');
      await waitFor(
        'the backoff over',
        () => (d?.status()?.pools?.find((p) => p.name === 'switched')?.backoffLevel === 0 ? true : undefined),
        30_000,
      );
      // steady keeps turning over: from now on it gets no more than 7 (the freed CPUs go 70/30)
      for (let i = 0; i < 20; i++) {
        assert.ok((await running(instance, 'steady')).length <= 7, 'steady within its share');
        await new Promise((r) => setTimeout(r, 500));
      }
    });
  },
);
