/**
 * Runs hostile configuration inputs through the loader in a worker thread, one message per case,
 * so that the corpus test can tell a hang (no answer) from a crash (an error that is not a
 * ConfigError) and go on with the next case.
 */
import { parentPort } from 'node:worker_threads';
import { ConfigError } from '../../src/core/errors.ts';
import { loadConfig } from '../../src/config/load.ts';

export interface HostileInput {
  readonly id: number;
  readonly file?: string | undefined;
  readonly env: Record<string, string>;
}

export type HostileOutcome =
  | { readonly id: number; readonly kind: 'accepted'; readonly warnings: readonly string[] }
  | {
      readonly id: number;
      readonly kind: 'refused';
      readonly keys: readonly string[];
      readonly messages: readonly string[];
    }
  | { readonly id: number; readonly kind: 'crash'; readonly error: string };

const HOST = { ncpus: 8, ramBytes: 16e9, swapBytes: 0 };

parentPort?.on('message', (input: HostileInput) => {
  let outcome: HostileOutcome;
  try {
    const c = loadConfig({ file: input.file, fileRequired: true, env: input.env, args: [], host: HOST });
    outcome = { id: input.id, kind: 'accepted', warnings: c.warnings };
  } catch (err) {
    outcome =
      err instanceof ConfigError
        ? {
            id: input.id,
            kind: 'refused',
            keys: err.problems.map((p) => p.key),
            messages: err.problems.map((p) => p.message),
          }
        : { id: input.id, kind: 'crash', error: String((err as Error)?.stack ?? err) };
  }
  parentPort?.postMessage(outcome);
});
