/**
 * The kernel's page size, which `/proc/zoneinfo` counts in: AT_PAGESZ of this process's auxiliary
 * vector (`/proc/self/auxv`, pairs of native words). Node has no call for it.
 */
import { endianness } from 'node:os';
import { readFileSync } from 'node:fs';

/** The auxiliary vector's entry for the page size. */
const AT_PAGESZ = 6n;

/** AT_PAGESZ in an auxiliary vector of `wordBytes`-byte words; undefined when absent. */
export function auxvPageSize(auxv: Uint8Array, wordBytes: 4 | 8, littleEndian: boolean): number | undefined {
  const view = new DataView(auxv.buffer, auxv.byteOffset, auxv.byteLength);
  const word = (at: number): bigint =>
    wordBytes === 8 ? view.getBigUint64(at, littleEndian) : BigInt(view.getUint32(at, littleEndian));
  for (let at = 0; at + 2 * wordBytes <= auxv.byteLength; at += 2 * wordBytes) {
    const type = word(at);
    if (type === 0n) return undefined;
    if (type === AT_PAGESZ) return Number(word(at + wordBytes));
  }
  return undefined;
}

let cached: { size: number | undefined } | undefined;

/** This kernel's page size (read once); undefined when /proc/self/auxv cannot be read. */
export function kernelPageSize(): number | undefined {
  cached ??= { size: readPageSize() };
  return cached.size;
}

function readPageSize(): number | undefined {
  try {
    const wordBytes = ['x64', 'arm64', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el'].includes(process.arch)
      ? 8
      : 4;
    return auxvPageSize(readFileSync('/proc/self/auxv'), wordBytes, endianness() === 'LE');
  } catch {
    return undefined;
  }
}
