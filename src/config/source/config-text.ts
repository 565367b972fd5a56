import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { isAlias, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { ConfigError } from '../../core/errors.ts';

/** A configuration text is small: anything larger is refused rather than parsed. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** Most mapping entries and list items in one configuration (Plancton has ~60 keys; lists of binds a few dozen). */
export const MAX_CONFIG_NODES = 20_000;

/**
 * Reads a configuration file: a regular file (through symlinks, as Kubernetes mounts ConfigMaps),
 * at most MAX_CONFIG_BYTES. Opened non-blocking so that a FIFO cannot hang the open, and checked
 * on the open descriptor so that nothing can be swapped in between; read through the descriptor
 * up to one byte past the limit, so that a device such as /dev/zero costs nothing.
 */
export function readConfigFile(file: string): string {
  const fail = (why: string, cause?: unknown): ConfigError => new ConfigError([{ key: file, message: why }], { cause });
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw fail(`cannot read: ${(err as Error).message}`, err);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw fail(`is not a regular file (${kind(st)}): a configuration must be a file`);
    if (st.size > MAX_CONFIG_BYTES) throw fail(`larger than ${MAX_CONFIG_BYTES} bytes`);
    const buf = Buffer.alloc(Math.min(MAX_CONFIG_BYTES + 1, Math.max(st.size, 4096) + 1));
    let n = 0;
    for (let got = -1; got !== 0 && n < buf.length; n += got) got = readSync(fd, buf, n, buf.length - n, null);
    if (n > MAX_CONFIG_BYTES) throw fail(`larger than ${MAX_CONFIG_BYTES} bytes`);
    return buf.subarray(0, n).toString('utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw fail(`cannot read: ${(err as Error).message}`, err);
  } finally {
    closeSync(fd);
  }
}

function kind(st: ReturnType<typeof fstatSync>): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}

/**
 * Parses a YAML (or JSON) configuration text in time linear in its size: the yaml package's own
 * duplicate-key check compares every key with every other (150,000 keys took minutes), so it is
 * off and duplicates are found here with one set per mapping; the number of entries is capped.
 * The top level must be a mapping (or empty).
 */
export function parseConfigText(text: string, origin: string): Record<string, unknown> {
  const fail = (why: string, cause?: unknown): ConfigError =>
    new ConfigError([{ key: origin, message: why }], { cause });
  if (text.length > MAX_CONFIG_BYTES) throw fail(`larger than ${MAX_CONFIG_BYTES} bytes`);
  let doc: unknown;
  try {
    const parsed = parseDocument(text, { uniqueKeys: false, prettyErrors: false });
    const first = parsed.errors[0];
    if (first) throw first;
    checkNodes(parsed.contents, origin);
    doc = parsed.toJS({ maxAliasCount: 100 });
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw fail(`not valid YAML: ${(err as Error).message}`, err);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw fail('must be a mapping of keys to values');
  return doc as Record<string, unknown>;
}

/** One pass over the tree (no recursion, so nesting depth cannot overflow the stack): duplicate keys and the entry cap. */
function checkNodes(root: unknown, origin: string): void {
  const stack: unknown[] = [root];
  let count = 0;
  while (stack.length) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        if (++count > MAX_CONFIG_NODES)
          throw new ConfigError([{ key: origin, message: `more than ${MAX_CONFIG_NODES} entries` }]);
        const key = keyText(pair.key as Node | null, origin);
        if (seen.has(key)) throw new ConfigError([{ key: origin, message: `duplicate key ${key.slice(0, 80)}` }]);
        seen.add(key);
        stack.push(pair.key, pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) {
        if (++count > MAX_CONFIG_NODES)
          throw new ConfigError([{ key: origin, message: `more than ${MAX_CONFIG_NODES} entries` }]);
        stack.push(item);
      }
    }
  }
}

/** A key as JavaScript will see it (1 and "1" are the same property); a key that is a list or a mapping is refused. */
function keyText(key: Node | null, origin: string): string {
  if (key === null) return '';
  if (isScalar(key)) return String(key.value);
  throw new ConfigError([
    { key: origin, message: `a key must be a plain value, not ${isAlias(key) ? 'an alias' : 'a list or a mapping'}` },
  ]);
}
