/**
 * One claimant of a pid file, for the race test: claims `argv[2]` (and run dir `argv[3]`), prints
 * `won` or `lost: <why>`, then holds on until its stdin closes, so that the other claimant tries
 * while this one is alive.
 */
import { claimPidFile } from '../../src/daemon/pid-file.ts';

try {
  await claimPidFile(process.argv[2] ?? '', process.argv[3]);
  process.stdout.write('won\n');
} catch (err) {
  process.stdout.write(`lost: ${(err as Error).message}\n`);
}
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
