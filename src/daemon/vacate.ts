/**
 * Vacating a pilot, built from the engine port's primitives: its stop command, then its stop
 * signal, then SIGKILL, all within one grace (the time the command takes comes off the signal's).
 * It lives here rather than in the Docker adapter so that the in-memory engine can test it.
 */
import type { Vacate } from '../core/decision.ts';
import type { EnginePort } from '../engine/port.ts';
import type { Clock } from '../common/clock.ts';

export interface VacateDeps {
  readonly engine: EnginePort;
  readonly clock: Clock;
  /** Aborting gives up at once, wherever the sequence is. */
  readonly signal?: AbortSignal | undefined;
}

/** How often a running stop command is looked at (ms). */
const COMMAND_POLL_MS = 200;

/** Asks pilot `id` to go as `how` says, and makes sure it has gone when the grace is over. */
export async function vacate(id: string, how: Vacate, deps: VacateDeps): Promise<void> {
  const { engine, clock, signal } = deps;
  const state = await engine.runState(id, { signal });
  if (state === undefined || state === 'stopped') return;
  // a frozen pilot can neither run its stop command nor handle a signal
  if (state === 'paused') await engine.unpause(id, { signal });
  // the engine's own stop does exactly this case, and answers once the pilot has gone
  if (how.signal === 'SIGTERM' && how.command.length === 0) return engine.stop(id, how.graceSec, { signal });
  const deadline = clock.now() + Math.max(0, how.graceSec) * 1000;
  if (how.command.length > 0) await runCommand(id, how.command, deadline, deps);
  const leftMs = Math.max(0, deadline - clock.now());
  // a stop command that used the whole grace leaves no time for the signal
  if (leftMs > 0) {
    await engine.kill(id, how.signal, { signal });
    if (await endsWithin(id, leftMs, deps)) return;
  }
  await engine.kill(id, 'SIGKILL', { signal });
}

/** Runs `cmd` in the pilot and waits for it until `deadline`; its failure is not the caller's. */
async function runCommand(id: string, cmd: readonly string[], deadline: number, deps: VacateDeps): Promise<void> {
  const { engine, clock, signal } = deps;
  try {
    const execId = await engine.exec(id, cmd, { signal });
    while (clock.now() < deadline && (await engine.execRunning(execId, { signal }))) {
      await clock.sleep(Math.min(COMMAND_POLL_MS, Math.max(0, deadline - clock.now())), signal);
    }
  } catch (err) {
    if (signal?.aborted) throw err;
    // the signal that follows still asks the pilot to go
  }
}

/** Whether the pilot ends within `ms`; a failed wait counts as ended (the SIGKILL that would follow has nothing to do). */
async function endsWithin(id: string, ms: number, deps: VacateDeps): Promise<boolean> {
  const { engine, clock, signal } = deps;
  const done = new AbortController();
  const both = signal ? AbortSignal.any([signal, done.signal]) : done.signal;
  const waited = engine.wait(id, { signal: both, withinMs: ms }).then(
    () => true,
    () => true,
  );
  const timedOut = clock.sleep(ms, both).then(
    () => false,
    () => false,
  );
  try {
    const ended = await Promise.race([waited, timedOut]);
    signal?.throwIfAborted();
    return ended;
  } finally {
    done.abort();
  }
}
