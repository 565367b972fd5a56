/**
 * Graceful vacate on the real engine: a pilot removed by Plancton (here at max_ttl) is sent
 * stop_signal (after stop_command, if any) and given what is left of stop_timeout before SIGKILL. The pilot is a
 * shell (PID 1, so only an explicit trap handles a signal) whose trap writes what it got to a
 * bind-mounted host directory, takes 2 s to clean up, and exits 0.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { DaemonProcess, testConfig } from '../support/daemon.ts';
import type { Removal } from '../../src/report/removals.ts';

const skip = await requireEngine('busybox');

/** Traps TERM and INT; each handler records the signal under the pilot's id, cleans up for 2 s, exits 0. */
const PILOT_SCRIPT = [
  "trap 'echo got-term >> /out/$PLANCTON_PILOT_ID; sleep 2; exit 0' TERM",
  "trap 'echo got-int >> /out/$PLANCTON_PILOT_ID; sleep 2; exit 0' INT",
  'while :; do sleep 1 & wait $!; done',
].join('\n');

interface Case {
  readonly name: string;
  readonly settings: Record<string, unknown>;
  readonly exitCode: number;
  readonly recorded: string;
}

const CASES: readonly Case[] = [
  {
    name: 'SIGTERM, and stop_timeout longer than the cleanup: the pilot exits 0 by itself',
    settings: { stop_timeout: 8 },
    exitCode: 0,
    recorded: 'got-term',
  },
  {
    name: 'stop_timeout shorter than the cleanup: SIGKILL after it (137)',
    settings: { stop_timeout: 1 },
    exitCode: 137,
    recorded: 'got-term',
  },
  {
    name: 'stop_signal SIGINT is delivered instead of SIGTERM',
    settings: { stop_timeout: 8, stop_signal: 'SIGINT' },
    exitCode: 0,
    recorded: 'got-int',
  },
  {
    name: 'stop_command runs in the pilot before the signal',
    settings: { stop_timeout: 8, stop_command: ['sh', '-c', 'echo got-command >> /out/$PLANCTON_PILOT_ID'] },
    exitCode: 0,
    recorded: 'got-command\ngot-term',
  },
  {
    // stop_timeout bounds the command and the signal together: a command that hangs through it leaves
    // no time for the signal (given 4 s more, the trap would record got-term and exit 0)
    name: 'a stop_command that outlasts stop_timeout is followed by SIGKILL, not by a second stop_timeout',
    settings: { stop_timeout: 4, stop_command: ['sleep', '60'] },
    exitCode: 137,
    recorded: '',
  },
];

/** What the pilot's traps recorded; empty when no trap ran. */
function recordedBy(dir: string, pilotId: string): string {
  try {
    return readFileSync(join(dir, pilotId), 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

for (const c of CASES) {
  describe(`vacate: ${c.name}`, { skip, timeout: 60_000 }, () => {
    const instance = randomInstance();
    const out = mkdtempSync(join(tmpdir(), 'plancton-it-vacate-'));
    let d: DaemonProcess | undefined;
    after(async () => {
      await d?.cleanup();
      await removeByLabel(`org.plancton.instance=${instance}`);
      if (d) rmSync(d.dir, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    });

    it(c.name, async () => {
      d = new DaemonProcess(
        testConfig(instance, {
          max_docks: 1,
          max_ttl: 3,
          docker_cmd: ['sh', '-c', PILOT_SCRIPT],
          binds: [`${out}:/out`],
          ...c.settings,
        }),
      ).start();
      const removal: Removal = await waitFor(
        'a ttl removal',
        () => d?.status()?.removals.find((r) => r.reason === 'ttl'),
        40_000,
      );
      assert.equal(removal.killed, true);
      assert.equal(removal.exitCode, c.exitCode, `exit code of ${removal.name}`);
      const pilotId = removal.name.replace(/^plancton-worker-/, '');
      assert.equal(recordedBy(out, pilotId), c.recorded);
    });
  });
}
