// Runs enforcement's own work when an SDK Client or Server closes, whatever the application does with `onclose`:
// set before or after enforcement, replaced, or chained (at any depth) to the handler it read.

import process from "node:process";

/** Shared by every copy of this module in a process, so two copies loaded at once add to one list (versioned: its shape is a contract). */
const HOOKS = Symbol.for("pqguard.closeHooks.v1");

interface Closable {
  onclose?: (() => void) | undefined;
}

/**
 * Whether `target` has closed. The SDK's Protocol clears its transport before it calls `onclose`; a handler the
 * application saved and calls while the connection is live must not end its sessions or refuse its calls.
 */
function isClosed(target: Closable): boolean {
  return (target as { transport?: unknown }).transport === undefined;
}

/**
 * Runs `hook` when `target` closes, before the application's own `onclose`. The first call makes `onclose` an
 * accessor on `target`: assigning it sets the application's handler; reading it gives a handler that runs every hook
 * (once per close: a chained handler calling back in runs none again) and then the application handler that was set
 * when it was read, so handlers that chain what they read keep working at any depth. Hooks run only once the target
 * has closed (its transport is gone). A hook that throws is reported as a process warning and does not stop the
 * others, the application's handler, or the SDK's own teardown. A close that re-enters itself runs the application's
 * handler again (it cannot be told from a chained handler calling back in).
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
        // Reported, not thrown: a throw here would stop the SDK's teardown (pending requests never settle).
        process.emitWarning(`a pqguard close hook failed: ${error instanceof Error ? error.message : String(error)}`);
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
        if (running || !isClosed(target)) return app?.();
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
