/**
 * Safe arithmetic expressions for `max_docks`. Plancton 0.6 fed this key to Python's `eval`
 * (`"ncpus - 2"`, `"min(ncpus, ram_bytes // max_dock_mem)"`); the same text is accepted here but
 * parsed into a tree and evaluated by hand, so no input can reach anything but arithmetic.
 *
 * Limits against hostile input: MAX_SOURCE_LENGTH characters, MAX_TOKENS tokens, MAX_DEPTH
 * levels of nesting. Together they keep both the parser and the evaluator far below the JS stack limit.
 */
import { floorDiv, pythonMod } from './builtins.ts';
import { ExpressionError } from './lexer.ts';
import { parseExpression } from './parser.ts';
import type { BinaryOperator, ExpressionNode } from './parser.ts';

export { ExpressionError, MAX_SOURCE_LENGTH, MAX_TOKENS } from './lexer.ts';
export { MAX_DEPTH } from './parser.ts';

/** A parsed expression, ready to be evaluated any number of times. */
export interface CompiledExpression {
  /** The text as written in the configuration. */
  readonly source: string;
  /** The variables the expression uses, in order of first appearance, each once. */
  readonly names: readonly string[];
  /**
   * Computes the value with Python 3 float semantics. Throws ExpressionError on division by zero,
   * a used variable without a finite value in `vars` (own properties only), or a non-finite result.
   */
  evaluate(vars: Readonly<Record<string, number>>): number;
}

/**
 * Parses `source` (e.g. `"ncpus - 2"`, or a plain `"4"`). Variables must be in `allowedNames`;
 * the functions are min, max, abs, floor, ceil, round and int. Throws ExpressionError on bad syntax,
 * an unknown name or an input over the limits.
 */
export function compileExpression(source: string, allowedNames: readonly string[]): CompiledExpression {
  // The source comes from YAML; a stray non-string must fail as a config error, not a crash.
  if (typeof source !== 'string') throw new ExpressionError('expression must be a string', 0);
  const tree = parseExpression(source, new Set(allowedNames));
  const names = Object.freeze([...new Set(collectNames(tree, []))]);
  return Object.freeze({
    source,
    names,
    evaluate(vars: Readonly<Record<string, number>>): number {
      const result = evaluateNode(tree, vars);
      return result === 0 ? 0 : result; // -0 would only surprise callers and logs.
    },
  });
}

function collectNames(node: ExpressionNode, into: string[]): string[] {
  switch (node.kind) {
    case 'number':
      break;
    case 'name':
      into.push(node.name);
      break;
    case 'unary':
      collectNames(node.operand, into);
      break;
    case 'binary':
      collectNames(node.left, into);
      collectNames(node.right, into);
      break;
    case 'call':
      for (const arg of node.args) collectNames(arg, into);
      break;
  }
  return into;
}

function evaluateNode(node: ExpressionNode, vars: Readonly<Record<string, number>>): number {
  switch (node.kind) {
    case 'number':
      return node.value;
    case 'name':
      return lookUp(node.name, node.position, vars);
    case 'unary': {
      const operand = evaluateNode(node.operand, vars);
      return node.operator === '-' ? -operand : operand;
    }
    case 'binary': {
      const left = evaluateNode(node.left, vars);
      const right = evaluateNode(node.right, vars);
      return finite(applyBinary(node.operator, left, right, node.position), node.position);
    }
    case 'call':
      return finite(node.builtin.apply(node.args.map((arg) => evaluateNode(arg, vars))), node.position);
  }
}

function lookUp(name: string, position: number, vars: Readonly<Record<string, number>>): number {
  // Own properties only: a value inherited from a prototype is not a value the caller gave.
  if (!Object.hasOwn(vars, name)) throw new ExpressionError(`no value for '${name}'`, position);
  const value: unknown = vars[name];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ExpressionError(`value of '${name}' is not a finite number`, position);
  }
  return value;
}

function applyBinary(operator: BinaryOperator, left: number, right: number, position: number): number {
  switch (operator) {
    case '+':
      return left + right;
    case '-':
      return left - right;
    case '*':
      return left * right;
    case '/':
      if (right === 0) throw new ExpressionError('division by zero', position);
      return left / right;
    case '//':
      if (right === 0) throw new ExpressionError('division by zero', position);
      return floorDiv(left, right);
    case '%':
      if (right === 0) throw new ExpressionError('modulo by zero', position);
      return pythonMod(left, right);
    case '**':
      // Python raises here where JS would return Infinity.
      if (left === 0 && right < 0) throw new ExpressionError('zero raised to a negative power', position);
      return left ** right;
  }
}

/** Overflow (`1e200 * 1e200`) and a negative base to a fractional power (complex in Python) both end here. */
function finite(value: number, position: number): number {
  if (!Number.isFinite(value)) throw new ExpressionError('result is not a finite number', position);
  return value;
}
