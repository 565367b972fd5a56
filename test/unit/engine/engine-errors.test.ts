import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { EngineError } from '../../../src/core/errors.ts';
import { isTransientEngineError } from '../../../src/engine/engine-errors.ts';

const unreachable = (): EngineError => new EngineError('ping engine failed', { unreachable: true });

describe('isTransientEngineError', () => {
  it('is true for an unreachable engine and server errors', () => {
    assert.equal(isTransientEngineError(unreachable()), true);
    assert.equal(isTransientEngineError(new EngineError('x', { statusCode: 500 })), true);
    assert.equal(isTransientEngineError(new EngineError('x', { statusCode: 503 })), true);
  });

  it('is false for client errors and for anything that is not an EngineError', () => {
    assert.equal(isTransientEngineError(new EngineError('x', { statusCode: 404 })), false);
    assert.equal(isTransientEngineError(new EngineError('x', { statusCode: 409 })), false);
    assert.equal(isTransientEngineError(new EngineError('x')), false);
    assert.equal(
      isTransientEngineError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
      false,
    );
    assert.equal(isTransientEngineError(undefined), false);
  });
});
