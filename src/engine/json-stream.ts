import type { Readable } from 'node:stream';
import { isOwned } from './labels.ts';
import type { PilotEvent } from './port.ts';

/** The engine's newline-delimited JSON streams (events, pull progress), read without dockerode's help. */

/** A container event of one of `instance`'s pilots, or undefined for anything else. */
export function toPilotEvent(line: unknown, instance: string): PilotEvent | undefined {
  if (typeof line !== 'object' || line === null) return undefined;
  const e = line as {
    Type?: unknown;
    Action?: unknown;
    Actor?: { ID?: unknown; Attributes?: Record<string, string> };
    time?: unknown;
    timeNano?: unknown;
  };
  if (e.Type !== 'container' || typeof e.Action !== 'string' || typeof e.Actor?.ID !== 'string') return undefined;
  // The server filtered already; container events carry the labels among their attributes, so check again.
  if (!isOwned(e.Actor.Attributes, instance)) return undefined;
  const at =
    typeof e.timeNano === 'number'
      ? Math.floor(e.timeNano / 1e6)
      : typeof e.time === 'number'
        ? e.time * 1000
        : Date.now();
  return { action: e.Action, id: e.Actor.ID, at };
}

/** The error a progress line carries, if any. */
export function errorMessageOf(line: unknown): string | undefined {
  if (typeof line !== 'object' || line === null) return undefined;
  const { error, errorDetail } = line as { error?: unknown; errorDetail?: { message?: unknown } };
  if (typeof error === 'string' && error !== '') return error;
  if (typeof errorDetail?.message === 'string') return errorDetail.message;
  return undefined;
}

/**
 * Feeds each JSON value of a newline-delimited stream to `onLine`. Chunks may split lines and
 * multi-byte characters; a malformed line is skipped rather than thrown from an event handler.
 */
export function readJsonLines(stream: Readable, onLine: (value: unknown) => void): void {
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (text === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        continue;
      }
      onLine(value);
    }
  });
}
