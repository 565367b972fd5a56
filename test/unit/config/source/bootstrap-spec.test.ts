import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRepoSpec, repoUrl, safeGitUrl, specText } from '../../../../src/config/source/bootstrap-spec.ts';
import { redactUrls } from '../../../../src/config/source/bootstrap-git.ts';

describe('plancton bootstrap arguments, as 0.6 read them', () => {
  it('splits user/repo[:branch] at the last colon; branches may hold slashes', () => {
    assert.deepEqual(parseRepoSpec('mconcas/plancton-conf:dryrun'), {
      repo: 'mconcas/plancton-conf',
      branch: 'dryrun',
    });
    assert.deepEqual(parseRepoSpec('mconcas/plancton-conf:to-infn/dev'), {
      repo: 'mconcas/plancton-conf',
      branch: 'to-infn/dev',
    });
    assert.deepEqual(parseRepoSpec('mconcas/plancton-conf'), { repo: 'mconcas/plancton-conf', branch: undefined });
    assert.deepEqual(parseRepoSpec('group/sub/conf.git'), { repo: 'group/sub/conf', branch: undefined });
    assert.equal(specText(parseRepoSpec(' a/b:c ')), 'a/b:c');
  });

  it('refuses what is not a repository or a branch, by name', () => {
    for (const bad of [
      'conf',
      '/conf',
      'a/../b',
      '-x/y',
      'a/b:',
      'a/b:-evil',
      'a/b:x..y',
      'a b/c',
      'a/b:c d',
      'https://github.com/a/b',
    ]) {
      assert.throws(() => parseRepoSpec(bad), /is not a (configuration repository|branch name)/, bad);
    }
  });

  it('builds the clone URL under the git base, and masks a token in it', () => {
    assert.equal(repoUrl('https://github.com', parseRepoSpec('a/b:c')), 'https://github.com/a/b');
    assert.equal(repoUrl('git://127.0.0.1:9418/', parseRepoSpec('a/b')), 'git://127.0.0.1:9418/a/b');
    assert.equal(safeGitUrl('https://bot:t0ken@git.example.org'), 'https://bot:***@git.example.org');
    assert.equal(
      redactUrls("fatal: unable to access 'https://bot:t0ken@git.example.org/a/b/': 403"),
      "fatal: unable to access 'https://bot:***@git.example.org/a/b/': 403",
    );
  });
});
