/**
 * Tokenizer for `max_docks` expressions (Python arithmetic syntax). It is pulled one token at a
 * time by the parser so that the leftmost problem is the one reported: `require('fs')` fails on
 * the unknown name `require`, not on the quote further right.
 */

/** Longest accepted source, in characters: a `max_docks` expression is a one-liner. */
export const MAX_SOURCE_LENGTH = 500;
/** Most tokens accepted; with the source length this also bounds the AST and its evaluation. */
export const MAX_TOKENS = 200;

/** A rejected expression; `position` is the 0-based character offset of the problem. */
export class ExpressionError extends Error {
  override readonly name = 'ExpressionError';
  readonly position: number;
  constructor(problem: string, position: number, hint?: string) {
    super(`${problem} at position ${position}${hint === undefined ? '' : ` (${hint})`}`);
    this.position = position;
  }
}

/** Punctuation, longest first so that `**` and `//` win over `*` and `/`. */
const OPERATORS = ['**', '//', '+', '-', '*', '/', '%', '(', ')', ','] as const;
export type Operator = (typeof OPERATORS)[number];

export type Token =
  | { readonly kind: 'number'; readonly text: string; readonly value: number; readonly position: number }
  | { readonly kind: 'name'; readonly text: string; readonly position: number }
  | { readonly kind: 'operator'; readonly text: Operator; readonly position: number }
  | { readonly kind: 'end'; readonly text: ''; readonly position: number };

/** Yields the tokens of `source` one per call, then `end` tokens forever. */
export function createLexer(source: string): () => Token {
  if (source.length > MAX_SOURCE_LENGTH) {
    throw new ExpressionError(
      `expression is too long (${source.length} characters, at most ${MAX_SOURCE_LENGTH})`,
      MAX_SOURCE_LENGTH,
    );
  }
  let offset = 0;
  let count = 0;
  return () => {
    while (isWhitespace(source.charCodeAt(offset))) offset++;
    if (offset >= source.length) return { kind: 'end', text: '', position: source.length };
    if (++count > MAX_TOKENS)
      throw new ExpressionError(`expression has too many tokens (at most ${MAX_TOKENS})`, offset);
    const token = readNumber(source, offset) ?? readName(source, offset) ?? readOperator(source, offset);
    if (token === undefined)
      throw new ExpressionError(`unexpected character ${describeCharacter(source, offset)}`, offset);
    offset += token.text.length;
    return token;
  };
}

/** Human-readable form of a token for error messages; long names and numbers are shortened. */
export function describeToken(token: Token): string {
  const text = token.text.length > 40 ? `${token.text.slice(0, 40)}…` : token.text;
  if (token.kind === 'end') return 'end of expression';
  if (token.kind === 'operator') return `'${text}'`;
  return `${token.kind} '${text}'`;
}

function isWhitespace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

function isNameStart(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || code === 0x5f;
}

/** End of a Python digit run starting at `start` (`1_000`: one underscore between digits), or `start`. */
function digitsEnd(source: string, start: number): number {
  if (!isDigit(source.charCodeAt(start))) return start;
  let i = start + 1;
  for (;;) {
    if (isDigit(source.charCodeAt(i))) i++;
    else if (source[i] === '_' && isDigit(source.charCodeAt(i + 1))) i += 2;
    else return i;
  }
}

/** A Python decimal literal: `12`, `1.5`, `.5`, `2.`, `2e9`, `1.5E+3`, `2_000`. */
function readNumber(source: string, start: number): Token | undefined {
  const integerEnd = digitsEnd(source, start);
  let end = integerEnd;
  if (source[end] === '.') {
    const fractionEnd = digitsEnd(source, end + 1);
    if (integerEnd === start && fractionEnd === end + 1) return undefined;
    end = fractionEnd;
  } else if (integerEnd === start) {
    return undefined;
  }
  if (source[end] === 'e' || source[end] === 'E') {
    const signEnd = source[end + 1] === '+' || source[end + 1] === '-' ? end + 2 : end + 1;
    const exponentEnd = digitsEnd(source, signEnd);
    if (exponentEnd > signEnd) end = exponentEnd;
  }
  // A literal glued to a letter, digit, `_` or `.` is malformed (`1_`, `2e`, `0x1f`, `1.2.3`), as in Python.
  const next = source.charCodeAt(end);
  if (isNameStart(next) || isDigit(next) || source[end] === '.') {
    let badEnd = end;
    while (isNameStart(source.charCodeAt(badEnd)) || isDigit(source.charCodeAt(badEnd)) || source[badEnd] === '.')
      badEnd++;
    throw new ExpressionError(`invalid number '${source.slice(start, badEnd)}'`, start);
  }
  const text = source.slice(start, end);
  // Python rejects `012` rather than guess whether octal was meant.
  if (end === integerEnd && /^0[0_]*[1-9]/.test(text)) {
    throw new ExpressionError(`invalid number '${text}'`, start, 'leading zeros are not allowed');
  }
  const value = Number(text.replaceAll('_', ''));
  if (!Number.isFinite(value)) throw new ExpressionError(`number '${text}' is too large`, start);
  return { kind: 'number', text, value, position: start };
}

function readName(source: string, start: number): Token | undefined {
  if (!isNameStart(source.charCodeAt(start))) return undefined;
  let end = start + 1;
  while (isNameStart(source.charCodeAt(end)) || isDigit(source.charCodeAt(end))) end++;
  return { kind: 'name', text: source.slice(start, end), position: start };
}

function readOperator(source: string, start: number): Token | undefined {
  const text = OPERATORS.find((op) => source.startsWith(op, start));
  return text === undefined ? undefined : { kind: 'operator', text, position: start };
}

/** Printable ASCII quoted, anything else (control, non-ASCII) as U+XXXX so messages stay readable. */
function describeCharacter(source: string, offset: number): string {
  const code = source.codePointAt(offset) ?? 0;
  if (code > 0x20 && code < 0x7f) return `'${String.fromCodePoint(code)}'`;
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}
