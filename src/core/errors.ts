/** The few error classes the shell branches on; each keeps its `cause`. */

/** One problem with one configuration key. */
export interface ConfigProblem {
  readonly key: string;
  readonly message: string;
}

/** Invalid configuration; `problems` names every bad key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly ConfigProblem[];
  /** Warnings gathered before the problems were found (unknown keys and the like). */
  readonly warnings: readonly string[];
  constructor(problems: readonly ConfigProblem[], options?: ErrorOptions & { warnings?: readonly string[] }) {
    super(problems.map((p) => `${p.key}: ${p.message}`).join('\n'), options);
    this.problems = problems;
    this.warnings = options?.warnings ?? [];
  }
}

/** A failed engine call; `statusCode` is the HTTP status when the engine answered. */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  readonly statusCode: number | undefined;
  /** True when the engine could not be reached at all (socket missing, refused, timed out). */
  readonly unreachable: boolean;
  constructor(message: string, opts: { statusCode?: number | undefined; unreachable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.statusCode = opts.statusCode;
    this.unreachable = opts.unreachable ?? false;
  }
}

/** A /proc (or cgroup) file whose content does not have the expected shape. */
export class ProcParseError extends Error {
  override readonly name = 'ProcParseError';
  readonly file: string;
  constructor(file: string, message: string, options?: ErrorOptions) {
    super(`${file}: ${message}`, options);
    this.file = file;
  }
}
