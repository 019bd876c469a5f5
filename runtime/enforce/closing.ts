// Runs enforcement's own work when an SDK Client or Server closes, whatever the application does with `onclose`:
// set before or after enforcement, replaced, or chained (at any depth) to the handler it read.

/** Shared by every copy of this module in a process, so two copies loaded at once add to one list. */
const HOOKS = Symbol.for("pqguard.closeHooks");

interface Closable {
  onclose?: (() => void) | undefined;
}

/**
 * Runs `hook` when `target` closes, before the application's own `onclose`. The first call makes `onclose` an
 * accessor on `target`: assigning it sets the application's handler; reading it gives a handler that runs every hook
 * (once per close: a chained handler calling back in runs none again) and then the application handler that was set
 * when it was read, so handlers that chain what they read keep working at any depth. A hook that throws is reported
 * on a later turn and does not stop the others, the application's handler, or the SDK's own teardown.
 */
export function onClose(target: Closable, hook: () => void): void {
  const holder = target as Closable & { [HOOKS]?: (() => void)[] };
  const existing = holder[HOOKS];
  if (existing !== undefined) {
    existing.push(hook);
    return;
  }
  const hooks = [hook];
  let application = target.onclose;
  /** Set while a close runs: a chained handler calling back into one read earlier runs only its application part. */
  let running = false;
  const runHooks = (): void => {
    for (const each of hooks) {
      try {
        each();
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  };
  Object.defineProperty(target, HOOKS, { value: hooks });
  Object.defineProperty(target, "onclose", {
    configurable: true,
    enumerable: true,
    get: () => {
      const app = application;
      return () => {
        if (running) return app?.();
        running = true;
        try {
          runHooks();
          app?.();
        } finally {
          running = false;
        }
      };
    },
    set: (handler: (() => void) | undefined) => {
      application = handler;
    },
  });
}
