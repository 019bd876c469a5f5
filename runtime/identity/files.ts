// Reading small files (key files, manifests) through one open handle: the size and mode that are checked belong to
// the file that is read, not to whatever the path named a moment earlier.
import { open } from "node:fs/promises";

/** What reading a bounded file found: its text, or why there is none. */
export type BoundedRead =
  | { readonly ok: true; readonly text: string; readonly mode: number }
  | { readonly ok: false; readonly reason: "unreadable"; readonly code: string }
  | { readonly ok: false; readonly reason: "too-large"; readonly size: number };

/**
 * Opens `path`, checks the open file's size against `maxBytes` and reads it as UTF-8. `checkMode` runs on the open
 * file's mode before anything is read (a secret key file that others can read is refused unread).
 */
export async function readBoundedFile(path: string, maxBytes: number, checkMode?: (mode: number) => void): Promise<BoundedRead> {
  const unreadable = (error: unknown): BoundedRead => ({ ok: false, reason: "unreadable", code: (error as NodeJS.ErrnoException).code ?? "error" });
  let handle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    return unreadable(error);
  }
  try {
    let size: number;
    let mode: number;
    try {
      ({ size, mode } = await handle.stat());
    } catch (error) {
      return unreadable(error);
    }
    checkMode?.(mode);
    if (size > maxBytes) return { ok: false, reason: "too-large", size };
    // One byte more than the file had: a file that grew since the stat shows as a full buffer.
    const buffer = Buffer.alloc(size + 1);
    let length = 0;
    try {
      for (let read = -1; read !== 0 && length < buffer.length; length += read) read = (await handle.read(buffer, length, buffer.length - length)).bytesRead;
    } catch (error) {
      return unreadable(error);
    }
    if (length === buffer.length) return { ok: false, reason: "unreadable", code: "the file changed while it was read" };
    const text = buffer.toString("utf8", 0, length);
    // A file read under a mode check holds a secret: its bytes do not outlive the read (the text is the caller's).
    if (checkMode !== undefined) buffer.fill(0);
    return { ok: true, text, mode };
  } finally {
    await handle.close();
  }
}
