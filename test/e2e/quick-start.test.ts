/**
 * The README's quick start, verbatim: `docker build` and `docker run` as a user pastes them,
 * then the container at work with the image's embedded default configuration (busybox pilots).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { dockerInspect, docker, waitFor } from '../support/docker.ts';
import {
  NODE_IMAGE,
  PILOT_IMAGE,
  allPilots,
  dockerExec,
  engineHostName,
  ensureImage,
  forceRemove,
  imageOf,
  nameOf,
  quickStart,
  requireImages,
  runningPilots,
  shell,
  statusIn,
} from '../support/image.ts';

const skip = await requireImages(NODE_IMAGE, PILOT_IMAGE);

describe('README quick start (docker build + docker run, verbatim)', { skip, timeout: 15 * 60_000 }, () => {
  const { run } = quickStart();
  const name = nameOf(run);
  let host = '';
  let before_: Set<string>;
  let containerId = '';

  before(async () => {
    await ensureImage();
    host = await engineHostName();
    // A container of this name left by an interrupted run of this test is removed; any other is not ours.
    const stale = await dockerInspect(name);
    if (stale) {
      if (stale.Config.Image !== imageOf(run) || stale.Config.Labels?.['org.plancton.self'] !== 'true') {
        throw new Error(`a container named '${name}' exists and is not a Plancton left by this test: remove it first`);
      }
      await forceRemove(name);
    }
    // Pilots of this host's default instance that exist already (another Plancton's) are left alone.
    before_ = new Set(await allPilots(host));
  });

  after(async () => {
    await forceRemove(name);
    if (host) await forceRemove(...(await allPilots(host)).filter((id) => !before_.has(id)));
  });

  it('runs the README line; pilots appear as siblings with our labels and the host name', async (t) => {
    t.diagnostic(`docker run line from README.md: ${run}`);
    const r = await shell(run);
    assert.equal(r.exitCode, 0, r.stderr);
    containerId = r.stdout.split('\n').at(-1) ?? '';
    const self = await dockerInspect(name);
    assert.ok(self, 'the Plancton container exists');
    assert.equal(self.Id, containerId);
    assert.equal(self.HostConfig.Privileged, true);
    assert.equal(self.Config.Labels?.['org.plancton.self'], 'true', 'its own container carries the self label');
    assert.equal(self.Config.Labels?.['org.plancton.managed-by'], undefined);

    const pilots = await waitFor(
      'a running pilot',
      async () => {
        const ids = (await runningPilots(host)).filter((id) => !before_.has(id));
        return ids.length > 0 ? ids : undefined;
      },
      90_000,
    );
    for (const id of pilots) {
      const p = await dockerInspect(id);
      assert.ok(p);
      const labels = p.Config.Labels ?? {};
      assert.equal(labels['org.plancton.managed-by'], 'plancton');
      assert.equal(labels['org.plancton.instance'], host, 'the default instance is the host name from the engine');
      const pilotId = labels['org.plancton.pilot-id'] ?? '';
      assert.match(pilotId, /^[a-z0-9]{6}$/);
      assert.equal(p.Name, `/plancton-worker-${pilotId}`);
      assert.equal(p.Config.Hostname, `plancton-${host}-${pilotId}`, "the host's name, not the Plancton container's");
      assert.equal(p.Config.Image, 'busybox');
      assert.deepEqual(p.Config.Cmd, ['/bin/sleep', '600'], 'the embedded default configuration');
      assert.equal(p.HostConfig.CpuQuota, 50_000);
      assert.equal(p.HostConfig.Privileged, false);
    }
  });

  it('never counts its own container as a pilot', async () => {
    // the status and the engine agree on the running pilots (read together until a pass has caught up)
    const { status, running } = await waitFor(
      'a status that agrees with the engine',
      async () => {
        const s = await statusIn(name);
        const r = (await runningPilots(host)).filter((id) => !before_.has(id));
        return s && s.pilots.filter((p) => p.state === 'running').length === r.length
          ? { status: s, running: r }
          : undefined;
      },
      30_000,
    );
    const ids = status.pilots.map((p) => p.id);
    assert.ok(
      !ids.some((id) => containerId.startsWith(id) || id.startsWith(containerId.slice(0, 12))),
      'its own container is not in the pilots',
    );
    assert.ok(running.length > 0, 'pilots run');
    assert.equal(status.hostname, host);
    assert.equal(status.config.source, '/opt/plancton/config/container-default.yaml');
  });

  it('docker exec plancton plancton status / drain / resume', async () => {
    const st = await dockerExec(name, ['plancton', 'status']);
    assert.equal(st.exitCode, 0, st.stderr);
    assert.match(st.stdout, /^daemon: +active/m);
    assert.match(st.stdout, new RegExp(`plancton-worker-[a-z0-9]{6}`));
    const ctl = await dockerExec(name, ['planctonctl', 'status']);
    assert.equal(ctl.exitCode, 0, ctl.stderr);

    const drain = await dockerExec(name, ['plancton', 'drain']);
    assert.equal(drain.exitCode, 0, drain.stderr);
    await waitFor(
      'the drain in the status',
      async () => ((await statusIn(name))?.controls.drain ? true : undefined),
      30_000,
    );
    // A pilot that ends is not replaced while draining: the daemon takes a pass at once when
    // the engine reports it gone, and starts nothing.
    const gone = (await runningPilots(host)).filter((id) => !before_.has(id));
    await forceRemove(...gone);
    const seen = (await statusIn(name))?.iterations ?? 0;
    const settled = await waitFor(
      'two passes after the removal',
      async () => {
        const s = await statusIn(name);
        return s && s.iterations >= seen + 2 ? s : undefined;
      },
      60_000,
    );
    assert.equal(settled.pilots.filter((p) => p.state === 'running').length, 0);
    assert.match(String(settled.fit?.blocked), /drain/);
    assert.deepEqual(
      (await runningPilots(host)).filter((id) => !before_.has(id)),
      [],
      'no pilot starts while draining',
    );

    const resume = await dockerExec(name, ['plancton', 'resume']);
    assert.equal(resume.exitCode, 0, resume.stderr);
    await waitFor(
      'a pilot after resume',
      async () => {
        const ids = (await runningPilots(host)).filter((id) => !before_.has(id));
        return ids.length > 0 ? ids : undefined;
      },
      90_000,
    );
  });

  it('docker stop ends it gracefully within the timeout; the pilots keep running', async () => {
    const pilots = (await runningPilots(host)).filter((id) => !before_.has(id));
    assert.ok(pilots.length > 0);
    const t0 = Date.now();
    await docker(['stop', name]); // the default 10 s before SIGKILL
    const elapsed = Date.now() - t0;
    const self = await dockerInspect(name);
    assert.equal(self?.State.Status, 'exited');
    assert.equal(self.State.ExitCode, 0, 'exit 0: SIGTERM handled, not SIGKILLed');
    assert.ok(elapsed < 9_000, `stopped in ${elapsed} ms, before docker's SIGKILL`);
    await delay(500);
    assert.deepEqual(
      (await runningPilots(host)).filter((id) => pilots.includes(id)).sort(),
      [...pilots].sort(),
      'on_stop keep: pilots run on',
    );
  });
});
