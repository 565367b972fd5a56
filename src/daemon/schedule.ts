import cron, { type ScheduledTask } from 'node-cron';

/**
 * The `schedule` window: the minutes, as a cron pattern, in which pilots may run. node-cron parses
 * the pattern and matches a date against it (in `schedule_timezone`); no task is ever started.
 */
export class ScheduleWindow {
  #key = '';
  #task: ScheduledTask | undefined;

  /** True when `now` is inside the window; always true without a pattern. */
  isOpen(pattern: string, timezone: string, now: Date): boolean {
    if (pattern.trim() === '') {
      this.close();
      return true;
    }
    const key = `${pattern}\n${timezone}`;
    if (key !== this.#key || !this.#task) {
      this.close();
      this.#task = cron.createTask(pattern.trim(), () => undefined, timezone ? { timezone } : {});
      this.#key = key;
    }
    // a 5-field pattern fires at second 0: ask about the minute `now` is in, not the second
    return this.#task.match(new Date(Math.floor(now.getTime() / 60_000) * 60_000));
  }

  close(): void {
    void this.#task?.destroy();
    this.#task = undefined;
    this.#key = '';
  }
}
