/**
 * Ending the process without losing output. On a pipe, stdout and stderr are asynchronous: a
 * write the reader has not taken yet waits in the stream's buffer, and `process.exit()` right
 * after it drops that buffer (a long `config check` error list lost most of its lines). Each
 * stream is asked for an empty write and its callback awaited: writes are flushed in order, so
 * when it is called everything written before has reached the operating system.
 */

/** Resolves once `stream` has handed every earlier write to the OS (or cannot take any more). */
export function flushed(stream: NodeJS.WritableStream & { writableFinished?: boolean }): Promise<void> {
  return new Promise<void>((resolve) => {
    const s = stream as NodeJS.WritableStream & { destroyed?: boolean; writable?: boolean };
    if (s.destroyed === true || s.writable === false) return resolve();
    try {
      // the callback also runs with an error (EPIPE: the reader went away): nothing more to flush then
      stream.write('', () => resolve());
    } catch {
      resolve();
    }
  });
}

/**
 * Exits with `code` once stdout and stderr are flushed. `process.exitCode` is set first, so that
 * the code stands even if something ends the process while it waits.
 */
export async function exitWhenFlushed(
  code: number,
  streams: readonly NodeJS.WritableStream[] = [process.stdout, process.stderr],
): Promise<never> {
  process.exitCode = code;
  await Promise.all(streams.map(flushed));
  process.exit(code);
}
