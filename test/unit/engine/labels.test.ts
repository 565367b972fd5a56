import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { composeLabelsCleared, LABELS, pilotLabels } from '../../../src/engine/labels.ts';

describe('composeLabelsCleared', () => {
  it('empties every Compose label of the image (what `docker compose build` and `docker commit` leave on it), and no other', () => {
    const built = {
      'com.docker.compose.project': 'compose',
      'com.docker.compose.service': 'cm',
      'com.docker.compose.version': '2.26.1',
      'org.opencontainers.image.title': 'htcondor',
    };
    assert.deepEqual(composeLabelsCleared(built), {
      'com.docker.compose.project': '',
      'com.docker.compose.service': '',
      'com.docker.compose.version': '',
    });
    const committed = {
      'com.docker.compose.config-hash': 'f00',
      'com.docker.compose.container-number': '1',
      'com.docker.compose.oneoff': 'False',
      'com.docker.compose.project.working_dir': '/srv',
      'com.docker.composer': 'not the namespace',
    };
    assert.deepEqual(composeLabelsCleared(committed), {
      'com.docker.compose.config-hash': '',
      'com.docker.compose.container-number': '',
      'com.docker.compose.oneoff': '',
      'com.docker.compose.project.working_dir': '',
    });
  });

  it('adds nothing for an image without Compose labels (a label that was not there stays absent)', () => {
    assert.deepEqual(composeLabelsCleared({ a: 'b' }), {});
    assert.deepEqual(composeLabelsCleared(null), {});
    assert.deepEqual(composeLabelsCleared(undefined), {});
  });

  it('never touches the ownership labels set beside it', () => {
    const own = pilotLabels('i', 'abc123', 'h', '1.0.0');
    const merged = { ...composeLabelsCleared({ 'com.docker.compose.project': 'p' }), ...own };
    assert.equal(merged[LABELS.instance], 'i');
    assert.equal(merged['com.docker.compose.project'], '');
  });
});
