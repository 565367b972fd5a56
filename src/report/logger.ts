import winston from 'winston';

export type Logger = winston.Logger;

export interface LoggerOptions {
  readonly level: string;
  /** JSON lines (the default when stdout is not a terminal) or readable lines. */
  readonly json?: boolean | undefined;
  /** Also write a rotating `plancton.log` here (10 MB x 50 files, as 0.6). */
  readonly logDir?: string | undefined;
  /** Where console output goes; the tests pass a stream. */
  readonly stream?: NodeJS.WritableStream | undefined;
}

const readable = winston.format.printf(({ level, message, timestamp, ...meta }) => {
  const extra = Object.entries(meta)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${String(timestamp)} ${level.padEnd(7)} ${String(message)}${extra ? ` ${extra}` : ''}`;
});

/** The daemon's logger: one line per event, structured fields beside the message. */
export function createLogger(o: LoggerOptions): Logger {
  const json = o.json ?? !process.stdout.isTTY;
  const jsonFormat = winston.format.combine(
    winston.format.timestamp(),
    winston.format.errors({ stack: false }),
    winston.format.json(),
  );
  const transports: winston.transport[] = [
    o.stream
      ? new winston.transports.Stream({
          stream: o.stream,
          format: json ? jsonFormat : winston.format.combine(winston.format.timestamp(), readable),
        })
      : new winston.transports.Console({
          format: json ? jsonFormat : winston.format.combine(winston.format.timestamp(), readable),
        }),
  ];
  if (o.logDir) {
    transports.push(
      new winston.transports.File({
        dirname: o.logDir,
        filename: 'plancton.log',
        maxsize: 10 * 1024 * 1024,
        maxFiles: 50,
        tailable: true,
        format: jsonFormat,
      }),
    );
  }
  return winston.createLogger({ level: o.level, transports });
}
