import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileExpression,
  ExpressionError,
  MAX_DEPTH,
  MAX_SOURCE_LENGTH,
  MAX_TOKENS,
} from '../../../../src/config/expression/expression.ts';

const NAMES = ['ncpus', 'ram_bytes', 'swap_bytes', 'max_dock_mem', 'max_dock_swap'] as const;
const VARS = {
  ncpus: 8,
  ram_bytes: 16_000_000_000,
  swap_bytes: 4_000_000_000,
  max_dock_mem: 2_000_000_000,
  max_dock_swap: 1_000_000_000,
};

function evaluate(source: string, vars: Readonly<Record<string, number>> = VARS): number {
  return compileExpression(source, NAMES).evaluate(vars);
}

/** Asserts that `fn` throws an ExpressionError at `position` whose message matches `message`. */
function assertExpressionError(fn: () => unknown, position: number, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ExpressionError, `expected an ExpressionError, got ${String(error)}`);
    assert.match(error.message, message);
    assert.equal(error.position, position, error.message);
    return true;
  });
}

describe('compileExpression: Python 3 arithmetic', () => {
  // Every expected value below is what CPython 3.11 prints for the same text (with VARS bound
  // and floor/ceil taken from math).
  const cases: ReadonlyArray<readonly [string, number]> = [
    ['1 + 2', 3],
    ['7 - 10', -3],
    ['6 * 7', 42],
    ['7 / 2', 3.5],
    ['1 / 3', 0.3333333333333333],
    ['7 // 2', 3],
    ['-7 // 2', -4],
    ['7 // -2', -4],
    ['-7 // -2', 3],
    ['7.5 // 2', 3],
    ['1 // 0.1', 9],
    ['-1 // 0.1', -10],
    ['7 % 3', 1],
    ['-7 % 3', 2],
    ['7 % -3', -2],
    ['-7 % -3', -1],
    ['7.5 % 2', 1.5],
    ['-7.5 % 2', 0.5],
    ['1 % 0.1', 0.09999999999999995],
    ['6 % -3', 0],
    ['-1e-300 % 1e300', 1e300],
    ['2 ** 10', 1024],
    ['2 ** 3 ** 2', 512],
    ['-2 ** 2', -4],
    ['(-2) ** 2', 4],
    ['2 ** -1', 0.5],
    ['-2 ** -2', -0.25],
    ['2 ** -2 ** 2', 0.0625],
    ['0 ** 0', 1],
    ['4 ** 0.5', 2],
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['10 - 4 - 3', 3],
    ['100 / 10 / 5', 2],
    ['2 * 3 ** 2', 18],
    ['-3 ** 2 * 2', -18],
    ['1 - -1', 2],
    ['1 + +1', 2],
    ['- - 1', 1],
    ['-+-1', 1],
    ['10 - 2 * 3 % 4', 8],
    ['7 // 2 * 2', 6],
    ['2 * 7 // 2', 7],
    ['17 % 5 * 3', 6],
    ['8 / 2 // 3', 1],
    ['1 + 2 ** 3 * 4 - 5', 28],
    ['((((1))))', 1],
    ['-(-(ncpus))', 8],
  ];
  for (const [source, expected] of cases) {
    it(`${source} == ${expected}`, () => assert.equal(evaluate(source), expected));
  }
});

describe('compileExpression: number literals', () => {
  const cases: ReadonlyArray<readonly [string, number]> = [
    ['4', 4],
    ['0', 0],
    ['00', 0],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['2.', 2],
    ['2e9', 2_000_000_000],
    ['1.5E+3', 1500],
    ['1e-3', 0.001],
    ['1.e2', 100],
    ['2_000_000_000', 2_000_000_000],
    ['1_0.2_5', 10.25],
    ['0.5', 0.5],
    ['1e-999', 0],
  ];
  for (const [source, expected] of cases) {
    it(`${source} == ${expected}`, () => assert.equal(evaluate(source), expected));
  }

  const invalid: ReadonlyArray<readonly [string, number, RegExp]> = [
    ['1e999', 0, /^number '1e999' is too large at position 0$/],
    ['2 * 1e999', 4, /too large at position 4/],
    ['1_', 0, /^invalid number '1_' at position 0$/],
    ['1__0', 0, /invalid number '1__0'/],
    ['1_.5', 0, /invalid number/],
    ['1e', 0, /invalid number '1e'/],
    ['1e_5', 0, /invalid number/],
    ['0x10', 0, /invalid number '0x10'/],
    ['012', 0, /invalid number '012' at position 0 \(leading zeros are not allowed\)/],
    ['1.2.3', 0, /invalid number '1.2.3'/],
    ['1 + 2ncpus', 4, /invalid number '2ncpus'/],
  ];
  for (const [source, position, message] of invalid) {
    it(`rejects ${source}`, () => assertExpressionError(() => compileExpression(source, NAMES), position, message));
  }
});

describe('compileExpression: functions', () => {
  const cases: ReadonlyArray<readonly [string, number]> = [
    ['min(3, 1, 2)', 1],
    ['max(3, 1, 2)', 3],
    ['min(5)', 5],
    ['max(1, 2,)', 2],
    ['abs(-3.5)', 3.5],
    ['floor(-2.5)', -3],
    ['ceil(-2.5)', -2],
    ['floor(2.5)', 2],
    ['ceil(2.1)', 3],
    ['round(2.5)', 2],
    ['round(3.5)', 4],
    ['round(-2.5)', -2],
    ['round(0.5)', 0],
    ['round(1.4999)', 1],
    ['round(-0.6)', -1],
    ['int(-2.7)', -2],
    ['int(2.7)', 2],
    ['int(7 / 2)', 3],
  ];
  for (const [source, expected] of cases) {
    it(`${source} == ${expected}`, () => assert.equal(evaluate(source), expected));
  }

  it('checks the number of arguments when compiling', () => {
    assertExpressionError(
      () => compileExpression('min()', NAMES),
      0,
      /^min\(\) takes at least 1 argument \(0 given\) at position 0$/,
    );
    assertExpressionError(
      () => compileExpression('1 + abs(1, 2)', NAMES),
      4,
      /abs\(\) takes exactly 1 argument \(2 given\)/,
    );
    assertExpressionError(() => compileExpression('min(,)', NAMES), 4, /^unexpected ',' at position 4$/);
    assertExpressionError(
      () => compileExpression('min(1 2)', NAMES),
      6,
      /unexpected number '2' at position 6 \(expected ',' or '\)'\)/,
    );
  });

  it('refuses a function used as a value and a value called as a function', () => {
    assertExpressionError(
      () => compileExpression('min 1', NAMES),
      0,
      /^'min' is a function at position 0 \(call it as min\(\.\.\.\)\)$/,
    );
    assertExpressionError(() => compileExpression('ncpus(1)', NAMES), 0, /^'ncpus' is not a function at position 0$/);
  });
});

describe('compileExpression: Plancton settings', () => {
  it('evaluates the 0.6 default "ncpus - 2"', () => {
    assert.equal(compileExpression('ncpus - 2', NAMES).evaluate({ ncpus: 8 }), 6);
    assert.equal(compileExpression('ncpus - 2', NAMES).evaluate({ ncpus: 1 }), -1);
  });

  const cases: ReadonlyArray<readonly [string, Readonly<Record<string, number>>, number]> = [
    ['(ncpus - 2)', { ncpus: 8 }, 6],
    ['min(ncpus, ram_bytes // max_dock_mem)', { ncpus: 4, ram_bytes: 16e9, max_dock_mem: 2e9 }, 4],
    ['min(ncpus, ram_bytes // max_dock_mem)', VARS, 8],
    ['min(ncpus, ram_bytes // max_dock_mem)', { ncpus: 16, ram_bytes: 7e9, max_dock_mem: 2e9 }, 3],
    ['ncpus/2', { ncpus: 3 }, 1.5],
    ['max(1, ncpus / 2)', { ncpus: 3 }, 1.5],
    ['max(1, ncpus / 2)', { ncpus: 1 }, 1],
    ['min(ncpus, swap_bytes // max_dock_swap)', VARS, 4],
    ['ram_bytes / max_dock_mem', VARS, 8],
    ['max(1, min(ncpus - 1, (ram_bytes + swap_bytes) // (max_dock_mem + max_dock_swap)))', VARS, 6],
    [' \t ncpus\n-\r\n2 ', { ncpus: 8 }, 6],
    ['4', {}, 4],
  ];
  for (const [source, vars, expected] of cases) {
    it(`${JSON.stringify(source)} with ${JSON.stringify(vars)} == ${expected}`, () => {
      assert.equal(compileExpression(source, NAMES).evaluate(vars), expected);
    });
  }

  it('reports the variables used, once each, in order of appearance', () => {
    const compiled = compileExpression('min(ncpus, ram_bytes // max_dock_mem) + ncpus', NAMES);
    assert.equal(compiled.source, 'min(ncpus, ram_bytes // max_dock_mem) + ncpus');
    assert.deepEqual(compiled.names, ['ncpus', 'ram_bytes', 'max_dock_mem']);
    assert.deepEqual(compileExpression('4', NAMES).names, []);
    assert.ok(Object.isFrozen(compiled) && Object.isFrozen(compiled.names));
  });

  it('can be evaluated again with other values', () => {
    const compiled = compileExpression('ncpus - 2', NAMES);
    assert.deepEqual(
      [2, 4, 64].map((ncpus) => compiled.evaluate({ ncpus })),
      [0, 2, 62],
    );
  });

  it('never returns -0', () => {
    assert.ok(Object.is(evaluate('-0'), 0));
    assert.ok(Object.is(evaluate('0 * -1'), 0));
  });
});

describe('evaluate: runtime errors', () => {
  const cases: ReadonlyArray<readonly [string, number, RegExp]> = [
    ['1/0', 1, /^division by zero at position 1$/],
    ['1 // 0', 2, /^division by zero at position 2$/],
    ['ncpus / (ncpus - 8)', 6, /^division by zero at position 6$/],
    ['5 % 0', 2, /^modulo by zero at position 2$/],
    ['0 ** -1', 2, /^zero raised to a negative power at position 2$/],
    ['1e200 * 1e200', 6, /^result is not a finite number at position 6$/],
    ['(-8) ** 0.5', 5, /^result is not a finite number at position 5$/],
    ['10 ** 400', 3, /^result is not a finite number at position 3$/],
    ['ncpus ** ncpus ** ncpus', 6, /^result is not a finite number at position 6$/],
    ['max(1e308, 1e308) * 10', 18, /^result is not a finite number at position 18$/],
  ];
  for (const [source, position, message] of cases) {
    it(`${source} throws`, () => assertExpressionError(() => evaluate(source), position, message));
  }

  it('throws when a used variable has no value', () => {
    const compiled = compileExpression('ncpus + swap_bytes', NAMES);
    assertExpressionError(() => compiled.evaluate({ ncpus: 4 }), 8, /^no value for 'swap_bytes' at position 8$/);
  });

  it('ignores values inherited from a prototype', () => {
    const vars = Object.create({ ncpus: 4 }) as Record<string, number>;
    assertExpressionError(() => compileExpression('ncpus', NAMES).evaluate(vars), 0, /no value for 'ncpus'/);
  });

  it('throws when a variable is not a finite number', () => {
    const compiled = compileExpression('1 + ncpus', NAMES);
    for (const ncpus of [NaN, Infinity, '4' as unknown as number]) {
      assertExpressionError(
        () => compiled.evaluate({ ncpus }),
        4,
        /^value of 'ncpus' is not a finite number at position 4$/,
      );
    }
  });
});

describe('compileExpression: hostile input', () => {
  const cases: ReadonlyArray<readonly [string, number, RegExp]> = [
    [
      'process.exit(1)',
      0,
      /^unknown name 'process' at position 0 \(allowed: ncpus, ram_bytes, swap_bytes, max_dock_mem, max_dock_swap; functions: min, max, abs, floor, ceil, round, int\)$/,
    ],
    ["require('fs')", 0, /^unknown name 'require' at position 0/],
    ['globalThis', 0, /unknown name 'globalThis'/],
    ['constructor', 0, /unknown name 'constructor'/],
    ['__proto__', 0, /unknown name '__proto__'/],
    ['toString', 0, /unknown name 'toString'/],
    ['hasOwnProperty(1)', 0, /unknown name 'hasOwnProperty'/],
    ['this', 0, /unknown name 'this'/],
    ["import('x')", 0, /unknown name 'import'/],
    ["__import__('os').system('id')", 0, /unknown name '__import__'/],
    ['lambda: 1', 0, /unknown name 'lambda'/],
    ['True', 0, /unknown name 'True'/],
    ['foo(1)', 0, /^unknown name 'foo' at position 0/],
    ['ncpus + process', 8, /unknown name 'process' at position 8/],
    ['ncpus.constructor', 5, /^unexpected character '\.' at position 5$/],
    ['1; 2', 1, /^unexpected character ';' at position 1$/],
    ['ncpus = 3', 6, /^unexpected character '=' at position 6$/],
    ['`ncpus`', 0, /^unexpected character '`' at position 0$/],
    ['"a" + 1', 0, /^unexpected character '"' at position 0$/],
    ["min(ncpus, 'x')", 11, /^unexpected character ''' at position 11$/],
    ['[1]', 0, /unexpected character '\['/],
    ['{}', 0, /unexpected character '\{'/],
    ['() => 1', 1, /^unexpected '\)' at position 1$/],
    ['ncpus if 1 else 2', 6, /^unexpected name 'if' at position 6$/],
    ['ncpus\u00a0- 2', 5, /^unexpected character U\+00A0 at position 5$/],
    ['\u0000', 0, /unexpected character U\+0000/],
    ['\uff4ecpus', 0, /unexpected character U\+FF4E/],
    ['', 0, /^expression is empty at position 0$/],
    [' \t\n ', 0, /^expression is empty at position 0$/],
    ['1 +', 3, /^unexpected end of expression at position 3$/],
    ['(1', 2, /^unexpected end of expression at position 2 \(expected '\)'\)$/],
    ['(ncpus - 2))', 11, /^unexpected '\)' at position 11$/],
    ['1 2', 2, /^unexpected number '2' at position 2$/],
    ['2 ** * 3', 5, /^unexpected '\*' at position 5$/],
    [
      'x'.repeat(10_000),
      MAX_SOURCE_LENGTH,
      /^expression is too long \(10000 characters, at most 500\) at position 500$/,
    ],
    ['('.repeat(10_000) + '1' + ')'.repeat(10_000), MAX_SOURCE_LENGTH, /too long/],
    ['-'.repeat(10_000) + '1', MAX_SOURCE_LENGTH, /too long/],
  ];
  for (const [source, position, message] of cases) {
    const label = source.length > 40 ? `${source.slice(0, 20)}… (${source.length} characters)` : JSON.stringify(source);
    it(`rejects ${label}`, () => assertExpressionError(() => compileExpression(source, NAMES), position, message));
  }

  it('has no side effect while rejecting', (t) => {
    const exit = t.mock.method(process, 'exit', (): never => {
      throw new Error('process.exit was called');
    });
    const globalsBefore = Object.getOwnPropertyNames(globalThis).sort();
    for (const [source] of cases) assert.throws(() => compileExpression(source, NAMES).evaluate(VARS), ExpressionError);
    assert.equal(exit.mock.callCount(), 0);
    assert.deepEqual(Object.getOwnPropertyNames(globalThis).sort(), globalsBefore);
    assert.equal(Object.getOwnPropertyNames(Object.prototype).includes('ncpus'), false);
  });

  it('says when no names are allowed', () => {
    assertExpressionError(() => compileExpression('ncpus', []), 0, /\(allowed: none; functions: /);
  });

  it('rejects a source that is not a string', () => {
    assertExpressionError(
      () => compileExpression(4 as unknown as string, NAMES),
      0,
      /^expression must be a string at position 0$/,
    );
  });

  it('is an Error with a name and a position', () => {
    try {
      compileExpression('1 +', NAMES);
      assert.fail('expected a throw');
    } catch (error) {
      assert.ok(error instanceof Error && error instanceof ExpressionError);
      assert.equal(error.name, 'ExpressionError');
      assert.equal(error.position, 3);
    }
  });
});

describe('compileExpression: limits', () => {
  it(`accepts ${MAX_SOURCE_LENGTH} characters and no more`, () => {
    const padded = ' '.repeat(MAX_SOURCE_LENGTH - 'ncpus'.length) + 'ncpus';
    assert.equal(compileExpression(padded, NAMES).evaluate({ ncpus: 3 }), 3);
    assertExpressionError(
      () => compileExpression(` ${padded}`, NAMES),
      MAX_SOURCE_LENGTH,
      /^expression is too long \(501 characters/,
    );
  });

  it(`accepts ${MAX_TOKENS} tokens and no more`, () => {
    const tokens200 = '-1' + '+1'.repeat(MAX_TOKENS / 2 - 1);
    assert.equal(evaluate(tokens200), MAX_TOKENS / 2 - 2);
    const tokens201 = `-${tokens200}`;
    assertExpressionError(
      () => compileExpression(tokens201, NAMES),
      tokens201.length - 1,
      /^expression has too many tokens \(at most 200\)/,
    );
  });

  const nestings: ReadonlyArray<readonly [string, (depth: number) => string, number, number]> = [
    // [what, source builder, value at MAX_DEPTH, error position at MAX_DEPTH + 1]
    ['parentheses', (d) => `${'('.repeat(d)}1${')'.repeat(d)}`, 1, MAX_DEPTH],
    ['unary minuses', (d) => `${'-'.repeat(d)}1`, 1, MAX_DEPTH],
    ['calls', (d) => `${'abs('.repeat(d)}1${')'.repeat(d)}`, 1, MAX_DEPTH * 4 + 3],
    ['exponents', (d) => `${'1 ** '.repeat(d)}1`, 1, MAX_DEPTH * 5 + 2],
  ];
  for (const [what, build, value, position] of nestings) {
    it(`accepts ${MAX_DEPTH} nested ${what} and no more`, () => {
      assert.equal(evaluate(build(MAX_DEPTH)), value);
      assertExpressionError(
        () => compileExpression(build(MAX_DEPTH + 1), NAMES),
        position,
        /^expression is nested too deeply \(at most 50 levels\)/,
      );
    });
  }

  it('never overflows the stack, whatever the nesting mix', () => {
    for (const source of ['(-'.repeat(60) + '1', 'min('.repeat(60), '-('.repeat(200), '(' + '1+'.repeat(240) + '1)']) {
      assert.throws(() => compileExpression(source, NAMES), ExpressionError);
    }
  });
});
