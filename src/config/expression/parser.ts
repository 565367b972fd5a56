/**
 * Recursive-descent parser for `max_docks` expressions, with Python's precedence:
 *
 *   expression := term (('+' | '-') term)*
 *   term       := factor (('*' | '/' | '//' | '%') factor)*
 *   factor     := ('+' | '-') factor | power
 *   power      := primary ['**' factor]          (so `-2 ** 2 == -4` and `2 ** 3 ** 2 == 512`)
 *   primary    := NUMBER | NAME | NAME '(' expression (',' expression)* [','] ')' | '(' expression ')'
 */
import { BUILTINS } from './builtins.ts';
import type { Builtin } from './builtins.ts';
import { createLexer, describeToken, ExpressionError } from './lexer.ts';
import type { Operator, Token } from './lexer.ts';

/** Deepest accepted nesting of parentheses, calls, unary signs and `**` exponents (stack safety). */
export const MAX_DEPTH = 50;

const ADDITIVE = ['+', '-'] as const;
const MULTIPLICATIVE = ['*', '/', '//', '%'] as const;
const POWER = ['**'] as const;

export type BinaryOperator = (typeof ADDITIVE)[number] | (typeof MULTIPLICATIVE)[number] | (typeof POWER)[number];

/** An expression tree; `position` is where the node's token (operator, name, number) starts. */
export type ExpressionNode =
  | { readonly kind: 'number'; readonly value: number; readonly position: number }
  | { readonly kind: 'name'; readonly name: string; readonly position: number }
  | {
      readonly kind: 'unary';
      readonly operator: '+' | '-';
      readonly operand: ExpressionNode;
      readonly position: number;
    }
  | {
      readonly kind: 'binary';
      readonly operator: BinaryOperator;
      readonly left: ExpressionNode;
      readonly right: ExpressionNode;
      readonly position: number;
    }
  | {
      readonly kind: 'call';
      readonly name: string;
      readonly builtin: Builtin;
      readonly args: readonly ExpressionNode[];
      readonly position: number;
    };

/** Parses `source`, accepting only the variables in `allowedNames` and the functions in BUILTINS. */
export function parseExpression(source: string, allowedNames: ReadonlySet<string>): ExpressionNode {
  const nextToken = createLexer(source);
  let current = nextToken();
  let depth = 0;

  if (atEnd()) throw new ExpressionError('expression is empty', 0);
  const tree = expression();
  if (!atEnd()) throw unexpected();
  return tree;

  // A function, not an inline test: TS would keep `current` narrowed across the calls that move it.
  function atEnd(): boolean {
    return current.kind === 'end';
  }

  function advance(): Token {
    const token = current;
    current = nextToken();
    return token;
  }

  function take<T extends Operator>(operators: readonly T[]): { text: T; position: number } | undefined {
    const token = current;
    if (token.kind !== 'operator') return undefined;
    const text = operators.find((op) => op === token.text);
    if (text === undefined) return undefined;
    advance();
    return { text, position: token.position };
  }

  function unexpected(hint?: string): ExpressionError {
    return new ExpressionError(`unexpected ${describeToken(current)}`, current.position, hint);
  }

  /** Runs a parse step one nesting level deeper; the cap keeps hostile input off the JS stack limit. */
  function nested<T>(position: number, step: () => T): T {
    if (++depth > MAX_DEPTH)
      throw new ExpressionError(`expression is nested too deeply (at most ${MAX_DEPTH} levels)`, position);
    const result = step();
    depth--;
    return result;
  }

  function binaryLevel(operators: readonly BinaryOperator[], operand: () => ExpressionNode): ExpressionNode {
    let left = operand();
    for (let op = take(operators); op !== undefined; op = take(operators)) {
      left = { kind: 'binary', operator: op.text, left, right: operand(), position: op.position };
    }
    return left;
  }

  function expression(): ExpressionNode {
    return binaryLevel(ADDITIVE, term);
  }

  function term(): ExpressionNode {
    return binaryLevel(MULTIPLICATIVE, factor);
  }

  function factor(): ExpressionNode {
    const op = take(ADDITIVE);
    if (op === undefined) return power();
    return nested(op.position, () => ({ kind: 'unary', operator: op.text, operand: factor(), position: op.position }));
  }

  function power(): ExpressionNode {
    const base = primary();
    const op = take(POWER);
    if (op === undefined) return base;
    return nested(op.position, () => ({
      kind: 'binary',
      operator: op.text,
      left: base,
      right: factor(),
      position: op.position,
    }));
  }

  function primary(): ExpressionNode {
    const token = current;
    if (token.kind === 'number') {
      advance();
      return { kind: 'number', value: token.value, position: token.position };
    }
    if (token.kind === 'name') return nameOrCall(token.text, token.position);
    const open = take(['(']);
    if (open === undefined) throw unexpected();
    return nested(open.position, () => {
      const inner = expression();
      if (take([')']) === undefined) throw unexpected("expected ')'");
      return inner;
    });
  }

  function nameOrCall(name: string, position: number): ExpressionNode {
    const builtin = BUILTINS.get(name);
    // Checked before reading on, so that `process.exit(1)` reports `process`, not the `.`.
    if (builtin === undefined && !allowedNames.has(name)) {
      throw new ExpressionError(
        `unknown name '${name.length > 40 ? `${name.slice(0, 40)}…` : name}'`,
        position,
        allowedHint(),
      );
    }
    advance();
    const open = take(['(']);
    if (open === undefined) {
      if (allowedNames.has(name)) return { kind: 'name', name, position };
      throw new ExpressionError(`'${name}' is a function`, position, `call it as ${name}(...)`);
    }
    if (builtin === undefined) throw new ExpressionError(`'${name}' is not a function`, position);
    const args = nested(open.position, () => callArguments());
    if (args.length < builtin.minArgs || args.length > builtin.maxArgs) {
      const expected =
        builtin.maxArgs === builtin.minArgs ? `exactly ${builtin.minArgs}` : `at least ${builtin.minArgs}`;
      throw new ExpressionError(
        `${name}() takes ${expected} argument${builtin.minArgs === 1 ? '' : 's'} (${args.length} given)`,
        position,
      );
    }
    return { kind: 'call', name, builtin, args, position };
  }

  function callArguments(): ExpressionNode[] {
    const args: ExpressionNode[] = [];
    while (take([')']) === undefined) {
      args.push(expression());
      if (take([',']) === undefined) {
        if (take([')']) === undefined) throw unexpected("expected ',' or ')'");
        break;
      }
    }
    return args;
  }

  function allowedHint(): string {
    const names = allowedNames.size === 0 ? 'none' : [...allowedNames].join(', ');
    return `allowed: ${names}; functions: ${[...BUILTINS.keys()].join(', ')}`;
  }
}
