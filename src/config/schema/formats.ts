import { constants } from 'node:os';
import convict from 'convict';
import cron from 'node-cron';
import { parseImageReference } from './image-ref.ts';

/**
 * Strict convict formats. Environment variables and command-line values arrive as strings:
 * each format's `coerce` turns a well-formed string into the value, and leaves anything else
 * as it is so that `validate` rejects it with a message that names the key.
 */

/** Signal names the kernel knows (node's os.constants.signals), e.g. SIGTERM. */
export const SIGNAL_NAMES: readonly string[] = Object.keys(constants.signals)
  .filter((n) => n.startsWith('SIG'))
  .sort();

/**
 * `cgroup_parent`: a plain relative cgroup name, components of letters, digits, `_ . -` (not
 * starting with `.` or `-`), joined by `/`; never absolute, never `..`, never an empty component.
 */
export const CGROUP_NAME_PATTERN = '^(?:[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*)?$';

/** `metrics_token`: empty, or at least 16 non-space characters. */
export const TOKEN_PATTERN = '^(|\\S{16,})$';

/**
 * `allow_host_power`: the kinds an entry may name (host-power.ts's grants), each followed by the
 * exact value.
 */
export const GRANT_PATTERN = '^(docker_privileged|(binds|devices|capabilities|security_opts|docker_network):\\S.*)$';

const TRUE = new Set(['true', 'yes', 'on', '1']);
const FALSE = new Set(['false', 'no', 'off', '0']);

/** Plain decimal numbers only: Number() would also take "0x10", "0b1" and "Infinity". */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function coerceNumber(v: string): number | string {
  const t = v.trim();
  return DECIMAL.test(t) && Number.isFinite(Number(t)) ? Number(t) : v;
}

/** A list from an env string: JSON/YAML-style `[...]`, or comma separated. */
export function coerceList(v: string): unknown {
  const t = v.trim();
  if (t.startsWith('[')) {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      return v; // validate reports it
    }
  }
  return t === '' ? [] : t.split(',').map((s) => s.trim());
}

function assertNumber(x: unknown, min: number, what: string): void {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < min) throw new Error(`must be ${what}`);
}

let registered = false;

/** Registers the formats once per process (convict's registry is global). */
export function registerFormats(): void {
  if (registered) return;
  registered = true;
  convict.addFormats({
    seconds: {
      validate: (x: unknown) => assertNumber(x, 0, 'a number of seconds >= 0'),
      coerce: coerceNumber,
    },
    positive: {
      validate: (x: unknown) => {
        assertNumber(x, 0, 'a number > 0');
        if (x === 0) throw new Error('must be a number > 0');
      },
      coerce: coerceNumber,
    },
    'non-negative': {
      validate: (x: unknown) => assertNumber(x, 0, 'a number >= 0'),
      coerce: coerceNumber,
    },
    'non-negative-int': {
      validate: (x: unknown) => {
        assertNumber(x, 0, 'a whole number >= 0');
        if (!Number.isInteger(x)) throw new Error('must be a whole number >= 0');
      },
      coerce: coerceNumber,
    },
    bool: {
      validate: (x: unknown) => {
        if (typeof x !== 'boolean') throw new Error('must be true or false');
      },
      coerce: (v: string) => (TRUE.has(v.trim().toLowerCase()) ? true : FALSE.has(v.trim().toLowerCase()) ? false : v),
    },
    'string-list': {
      validate: (x: unknown) => {
        if (!Array.isArray(x) || !x.every((e) => typeof e === 'string')) throw new Error('must be a list of strings');
      },
      coerce: coerceList,
    },
    text: {
      validate: (x: unknown) => {
        if (typeof x !== 'string') throw new Error('must be a string');
      },
    },
    /** `pools`: a list; each entry is checked key by key in pools.ts, which names the bad ones (`pools[1].share`). */
    'pool-list': {
      validate: (x: unknown) => {
        if (!Array.isArray(x))
          throw new Error('must be a list of mappings, each with a name (and share, docker_image, ...)');
      },
      coerce: (v: string) => (v.trim() === '' ? [] : coerceList(v)),
    },
    'non-empty': {
      validate: (x: unknown) => {
        if (typeof x !== 'string' || x.trim() === '') throw new Error('must be a non-empty string');
      },
    },
    /** `uid:gid`, `user`, `user:group`, or empty for the image's default user. */
    user: {
      validate: (x: unknown) => {
        if (typeof x !== 'string' || !/^([\w.-]+(:[\w.-]+)?)?$/.test(x))
          throw new Error('must be uid:gid, user[:group] or empty');
      },
    },
    /** 0.6 `docker_cmd`: a string (split on spaces) or a list. */
    command: {
      validate: (x: unknown) => {
        if (typeof x === 'string') {
          if (x.trim() === '') throw new Error('must not be empty');
          return;
        }
        if (!Array.isArray(x) || x.length === 0 || !x.every((e) => typeof e === 'string')) {
          throw new Error('must be a string or a non-empty list of strings');
        }
      },
      coerce: (v: string) => (v.trim().startsWith('[') ? coerceList(v) : v),
    },
    signal: {
      validate: (x: unknown) => {
        if (typeof x !== 'string' || !SIGNAL_NAMES.includes(x))
          throw new Error(`must be a signal name such as SIGTERM or SIGINT, not ${JSON.stringify(x)}`);
      },
    },
    /** A Docker image reference, parsed as Docker does. */
    image: {
      validate: (x: unknown) => {
        if (typeof x !== 'string')
          throw new Error('must be an image reference such as busybox or registry.example.org:5000/pilot:1.2');
        try {
          parseImageReference(x);
        } catch (err) {
          throw new Error(`${JSON.stringify(x)} is not an image reference: ${(err as Error).message}`);
        }
      },
    },
    /** `allow_host_power`: kind:value entries. */
    'host-power-list': {
      validate: (x: unknown) => {
        if (!Array.isArray(x) || !x.every((e) => typeof e === 'string')) throw new Error('must be a list of strings');
        const bad = x.find((e: string) => !new RegExp(GRANT_PATTERN).test(e));
        if (bad !== undefined)
          throw new Error(
            `"${String(bad)}" is not docker_privileged or binds:, devices:, capabilities:, security_opts:, docker_network: followed by the exact value`,
          );
      },
      coerce: coerceList,
    },
    /** A bearer token: empty, or 16 and more non-space characters. */
    token: {
      validate: (x: unknown) => {
        if (typeof x !== 'string' || !new RegExp(TOKEN_PATTERN).test(x))
          throw new Error('must be empty or at least 16 characters without spaces');
      },
    },
    /** A relative cgroup name, or empty for none. */
    'cgroup-name': {
      validate: (x: unknown) => {
        if (typeof x !== 'string' || !new RegExp(CGROUP_NAME_PATTERN).test(x)) {
          throw new Error(
            `${JSON.stringify(x)} must be a plain relative cgroup name such as plancton or plancton/pilots (no leading /, no .., no empty component), or empty`,
          );
        }
      },
    },
    /** A command that may be empty: a string (split on spaces) or a list. */
    'optional-command': {
      validate: (x: unknown) => {
        if (typeof x === 'string') return;
        if (!Array.isArray(x) || !x.every((e) => typeof e === 'string'))
          throw new Error('must be a string or a list of strings');
      },
      coerce: (v: string) => (v.trim().startsWith('[') ? coerceList(v) : v),
    },
    /** Bytes, or a percentage of the host's memory such as "10%". */
    'bytes-or-percent': {
      validate: (x: unknown) => {
        if (typeof x === 'number' && Number.isFinite(x) && x >= 0) return;
        if (typeof x === 'string' && /^\s*\d+(\.\d+)?\s*%\s*$/.test(x) && Number.parseFloat(x) <= 100) return;
        throw new Error('must be a number of bytes >= 0 or a percentage such as "10%"');
      },
      coerce: (v: string) => (v.trim().endsWith('%') ? v.trim() : coerceNumber(v)),
    },
    /** A 5-field cron pattern (node-cron's own validator), or empty. */
    cron: {
      validate: (x: unknown) => {
        if (typeof x !== 'string') throw new Error('must be a cron pattern such as "* 19-23 * * 1-5"');
        if (x.trim() === '') return;
        if (x.trim().split(/\s+/).length !== 5)
          throw new Error('must have 5 fields: minute hour day-of-month month day-of-week');
        const v = cron.validateDetailed(x.trim());
        if (!v.valid) throw new Error(v.errors.map((e) => e.message).join('; ') || 'is not a cron pattern');
      },
    },
    /** An IANA time zone name, or empty. */
    timezone: {
      validate: (x: unknown) => {
        if (typeof x !== 'string') throw new Error('must be a time zone name such as Europe/Rome');
        if (x === '') return;
        try {
          new Intl.DateTimeFormat('en', { timeZone: x });
        } catch {
          throw new Error('is not a known time zone');
        }
      },
    },
    /** 0.6 `max_docks`: a number or an arithmetic expression, checked by the loader's parser. */
    'number-or-expression': {
      validate: (x: unknown) => {
        if (typeof x === 'number' && Number.isFinite(x)) return;
        if (typeof x !== 'string' || x.trim() === '') throw new Error('must be a number or an arithmetic expression');
      },
      coerce: (v: string) => v,
    },
    /** `devices`: `host[:container[:perms]]` strings or maps with PathOnHost/PathInContainer/CgroupPermissions. */
    'device-list': {
      validate: (x: unknown) => {
        if (!Array.isArray(x)) throw new Error('must be a list of devices');
      },
      coerce: coerceList,
    },
    /** `influxdb_url`: one URL or a list. */
    'url-list': {
      validate: (x: unknown) => {
        if (x === null || typeof x === 'string') return;
        if (!Array.isArray(x) || !x.every((e) => typeof e === 'string'))
          throw new Error('must be a URL or a list of URLs');
      },
      coerce: (v: string) => (v.trim().startsWith('[') || v.includes(',') ? coerceList(v) : v),
    },
  });
}
